package gigyasim

import (
	"sync"
	"testing"
	"time"
)

func TestRegisterPendingUID(t *testing.T) {
	env := newEnv(t, nil)
	if got := env.userInfo(t, "u1").ErrorCode; got != codeUnauthorizedUser {
		t.Fatalf("getUserInfo before notify: errorCode = %d, want %d", got, codeUnauthorizedUser)
	}
	for i := range 2 { // the second time: idempotent
		if got := env.notify(t, "u1", okSecret); got != codeOK {
			t.Fatalf("notify #%d: errorCode = %d, want 0", i+1, got)
		}
	}
	gr := env.userInfo(t, "u1")
	if gr.ErrorCode != codeOK || gr.UID != "u1" || gr.IsSiteUID || !gr.IsRegistered {
		t.Errorf("getUserInfo(u1) = %+v, want errorCode 0, UID u1, isSiteUID false, isRegistered true", gr)
	}
	if st := env.sim.Stats(); st.Registered != 1 || st.Linked != 0 || st.Accounts != 1 {
		t.Errorf("stats registered/linked/accounts = %d/%d/%d, want 1/0/1", st.Registered, st.Linked, st.Accounts)
	}
}

func TestLinkReplacesUID(t *testing.T) {
	env := newEnv(t, nil)
	if got := env.link(t, "u1", "s1"); got != codeOK {
		t.Fatalf("link: errorCode = %d, want 0", got)
	}
	if uid, ok := env.sim.Linked("s1"); !ok || uid != "u1" {
		t.Errorf("Linked(s1) = %q, %v; want u1, true", uid, ok)
	}
	tests := []struct {
		name string
		got  func() int
		want int
	}{
		{"notify old UID", func() int { return env.notify(t, "u1", okSecret) }, codeUnauthorizedUser},
		{"relink old UID (a redelivery)", func() int { return env.link(t, "u1", "s1") }, codeUnauthorizedUser},
		{"getUserInfo old UID", func() int { return env.userInfo(t, "u1").ErrorCode }, codeUnauthorizedUser},
		{"notify the siteUID as UID", func() int { return env.notify(t, "s1", okSecret) }, codeOK},
		{"link the siteUID to another siteUID", func() int { return env.link(t, "s1", "s2") }, codeIdentityExists},
	}
	for _, tt := range tests {
		if got := tt.got(); got != tt.want {
			t.Errorf("%s: errorCode = %d, want %d", tt.name, got, tt.want)
		}
	}
	gr := env.userInfo(t, "s1")
	if gr.ErrorCode != codeOK || gr.UID != "s1" || !gr.IsSiteUID || !gr.IsRegistered {
		t.Errorf("getUserInfo(s1) = %+v, want errorCode 0, UID s1, isSiteUID true, isRegistered true", gr)
	}
	if gr.UIDSignature == "" || gr.SignatureTimestamp == "" {
		t.Errorf("getUserInfo(s1) has no UIDSignature/signatureTimestamp")
	}
	if st := env.sim.Stats(); st.Linked != 1 || st.Registered != 1 {
		t.Errorf("stats linked/registered = %d/%d, want 1/1", st.Linked, st.Registered)
	}
}

func TestSiteUIDOwnedByAnotherAccount(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*testing.T, *testEnv)
	}{
		{"linked to another account", func(t *testing.T, e *testEnv) { e.link(t, "u1", "s1") }},
		{"the UID of another account", func(t *testing.T, e *testEnv) { e.notify(t, "s1", okSecret) }},
		{"the replaced UID of another account", func(t *testing.T, e *testEnv) { e.link(t, "s1", "x") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t, nil)
			tt.setup(t, env)
			if got, want := env.link(t, "u2", "s1"), codeIdentityExists; got != want {
				t.Errorf("errorCode = %d, want %d", got, want)
			}
			if got, want := env.userInfo(t, "u2").ErrorCode, codeUnauthorizedUser; got != want {
				t.Errorf("the failed link registered u2: getUserInfo errorCode = %d, want %d", got, want)
			}
		})
	}
}

func TestStrict(t *testing.T) {
	env := newEnv(t, func(c *Config) {
		c.Strict = true
		c.Accounts = []string{"known-1", "known-2"}
	})
	if gr := env.userInfo(t, "known-1"); gr.ErrorCode != codeOK || gr.IsRegistered {
		t.Errorf("getUserInfo(seeded) = %+v, want errorCode 0, isRegistered false", gr)
	}
	tests := []struct {
		name string
		got  func() int
		want int
	}{
		{"notify unknown", func() int { return env.notify(t, "stranger", okSecret) }, codeUnauthorizedUser},
		{"link unknown", func() int { return env.link(t, "stranger", "s0") }, codeUnauthorizedUser},
		{"notify known", func() int { return env.notify(t, "known-1", okSecret) }, codeOK},
		{"link known", func() int { return env.link(t, "known-2", "s2") }, codeOK},
		{"getUserInfo of the linked siteUID", func() int { return env.userInfo(t, "s2").ErrorCode }, codeOK},
	}
	for _, tt := range tests {
		if got := tt.got(); got != tt.want {
			t.Errorf("%s: errorCode = %d, want %d", tt.name, got, tt.want)
		}
	}
	if st := env.sim.Stats(); st.Registered != 2 || st.Linked != 1 || st.Accounts != 2 {
		t.Errorf("stats registered/linked/accounts = %d/%d/%d, want 2/1/2", st.Registered, st.Linked, st.Accounts)
	}
}

// TestTooManyConcurrentPerUID holds five slow calls for one UID in flight,
// then sends more: those get 409030 at once; another UID is not affected.
func TestTooManyConcurrentPerUID(t *testing.T) {
	// The five must still be in flight when the probes arrive: 3 s leaves
	// room for a loaded machine to be slow in starting them.
	env := newEnv(t, func(c *Config) { c.Faults.Latency = 3 * time.Second })
	codes := make(chan int, MaxConcurrentPerUID)
	var wg sync.WaitGroup
	for range MaxConcurrentPerUID {
		wg.Go(func() {
			code, err := env.tryCode(t, MethodNotifyRegistration, baseForm("busy"), okSecret)
			if err != nil {
				t.Error(err)
			}
			codes <- code
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for env.sim.Stats().InFlight < MaxConcurrentPerUID {
		if time.Now().After(deadline) {
			t.Fatalf("in flight = %d, want %d", env.sim.Stats().InFlight, MaxConcurrentPerUID)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for range 3 {
		if got, want := env.notify(t, "busy", okSecret), codeTooManyConcurrent; got != want {
			t.Errorf("6th concurrent call: errorCode = %d, want %d", got, want)
		}
	}
	wg.Wait()
	close(codes)
	for got := range codes {
		if got != codeOK {
			t.Errorf("one of the first five: errorCode = %d, want 0", got)
		}
	}
	if err := env.sim.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	if got := env.notify(t, "busy", okSecret); got != codeOK {
		t.Errorf("after they finished: errorCode = %d, want 0", got)
	}
}

func TestCallLog(t *testing.T) {
	env := newEnv(t, nil)
	env.notify(t, "u1", okSecret)
	f := env.withSiteUID(t, baseForm("u1"), "s1", 0)
	f.Set("context", "attempt-2")
	env.code(t, MethodNotifyRegistration, f, okSecret)
	env.notify(t, "u1", okSecret)
	env.userInfo(t, "s1")

	got := env.sim.Calls("u1")
	want := []Call{
		{Method: MethodNotifyRegistration, UID: "u1", Code: codeOK},
		{Method: MethodNotifyRegistration, UID: "u1", SiteUID: "s1", Context: "attempt-2", Code: codeOK},
		{Method: MethodNotifyRegistration, UID: "u1", Code: codeUnauthorizedUser},
	}
	if len(got) != len(want) {
		t.Fatalf("Calls(u1) = %+v, want %d calls", got, len(want))
	}
	for i := range want {
		got[i].At = time.Time{}
		if got[i] != want[i] {
			t.Errorf("call %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if got := env.sim.Calls("s1"); len(got) != 1 || got[0].Method != MethodGetUserInfo {
		t.Errorf("Calls(s1) = %+v, want one getUserInfo", got)
	}
	noLog := newEnv(t, func(c *Config) { c.RecordCalls = false })
	noLog.notify(t, "u1", okSecret)
	if got := noLog.sim.Calls("u1"); got != nil {
		t.Errorf("Calls without RecordCalls = %+v, want nil", got)
	}
}
