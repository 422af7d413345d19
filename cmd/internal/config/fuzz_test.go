package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: Parse never panics, every error is a *Error, and a file it
// accepts keeps the rules: unique valid site names, topics that name a
// configured site or carry siteFrom, known lanes and formats.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(valid))
	for _, tc := range badCases {
		f.Add([]byte(tc.yaml))
	}
	getenv := env(map[string]string{"SEC": "c2VjcmV0", "KEY": "3_k", "EMPTY": ""})
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data, "fuzz.yaml", getenv)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse error %T %v; want a *config.Error", err, err)
			}
			return
		}
		checkInvariants(t, file)
	})
}

func checkInvariants(t *testing.T, f *File) {
	t.Helper()
	if len(f.Sites) == 0 || len(f.Topics) == 0 {
		t.Fatalf("accepted a file with %d sites and %d topics", len(f.Sites), len(f.Topics))
	}
	sites := map[string]bool{}
	for _, s := range f.Sites {
		if !siteName.MatchString(s.Name) || sites[s.Name] {
			t.Fatalf("accepted site name %q (bad or duplicate)", s.Name)
		}
		if (s.DataCenter == "") == (s.BaseURL == "") {
			t.Fatalf("site %s: dataCenter %q, baseURL %q; want exactly one", s.Name, s.DataCenter, s.BaseURL)
		}
		if _, ok := f.Quotas[s.Quota]; s.Quota != "" && !ok {
			t.Fatalf("site %s names unknown quota %q", s.Name, s.Quota)
		}
		sites[s.Name] = true
	}
	for _, tp := range f.Topics {
		if (tp.Site == "") == tp.SiteFrom.IsZero() || (tp.Site != "" && !sites[tp.Site]) {
			t.Fatalf("topic %s: site %q, siteFrom %+v", tp.Name, tp.Site, tp.SiteFrom)
		}
		if tp.Lane != LaneLive && tp.Lane != LaneBulk {
			t.Fatalf("topic %s: lane %q", tp.Name, tp.Lane)
		}
		if _, ok := fieldNames[tp.Format]; !ok {
			t.Fatalf("topic %s: format %q", tp.Name, tp.Format)
		}
	}
}
