package formats

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// Registry is what the avro and jsonschema decoders need from a schema
// registry. SchemaByID returns the schema registered under id; an id the
// registry does not know is an error wrapping [ErrUnknownSchema], and every
// other error means the registry could not answer now (the decoders report
// it as a *TransientError).
type Registry interface {
	SchemaByID(ctx context.Context, id int) (RegisteredSchema, error)
}

// RegisteredSchema is a schema as the registry stores it.
type RegisteredSchema struct {
	// Type is "AVRO", "JSON" or "PROTOBUF" (the registry's schemaType;
	// absent, it means AVRO).
	Type string
	// Schema is the schema's text.
	Schema string
	// References is how many other schemas it refers to; regnotify does
	// not resolve references.
	References int
}

// ErrUnknownSchema is the error (wrapped) of a schema id the registry does
// not know: HTTP 404, error_code 40403.
var ErrUnknownSchema = errors.New("schema id not registered")

// TransientError is a record that could not be decided now because the
// schema registry could not be reached or did not answer (connection
// refused, timeout, 5xx, 401/403, a cancelled context): it must wait, not be
// dead-lettered. Its message never contains credentials.
type TransientError struct {
	// SchemaID is the id that was being fetched.
	SchemaID int
	// Err is the cause.
	Err error
}

// Error returns "schema registry: fetch schema <id>: <cause>".
func (e *TransientError) Error() string {
	return fmt.Sprintf("schema registry: fetch schema %d: %v", e.SchemaID, e.Err)
}

// Unwrap returns the cause.
func (e *TransientError) Unwrap() error { return e.Err }

// Temporary reports true: trying again later may succeed.
func (e *TransientError) Temporary() bool { return true }

// SchemaRegistry is a Confluent Schema Registry client (franz-go's pkg/sr),
// the [Registry] of the --schema-registry-* flags. It does not cache: the
// decoders cache what they compiled from its answers.
type SchemaRegistry struct {
	cl   *sr.Client
	http *http.Client
}

// RegistryOption tunes NewRegistry.
type RegistryOption func(*registryOptions)

type registryOptions struct{ timeout time.Duration }

// WithRegistryTimeout bounds each registry request (default 5s).
func WithRegistryTimeout(d time.Duration) RegistryOption {
	return func(o *registryOptions) { o.timeout = d }
}

// NewRegistry returns a client of the registry at rawURL, with basic auth
// when user is set and tlsCfg for https (nil: the system roots). A password
// is never sent over plain http except to a loopback address, and the URL
// must not carry credentials (use user and pass): both are errors, which
// do not repeat the URL's userinfo.
func NewRegistry(rawURL, user, pass string, tlsCfg *tls.Config, opts ...RegistryOption) (*SchemaRegistry, error) {
	o := registryOptions{timeout: 5 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("schema registry url: want http(s)://host[:port][/path]")
	}
	if u.User != nil {
		return nil, errors.New("schema registry url: must not contain credentials; use the username and password settings")
	}
	if pass != "" && u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, errors.New("schema registry url: a password is sent only over https (or plain http to a loopback address)")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if tlsCfg != nil {
		tr.TLSClientConfig = tlsCfg.Clone()
	}
	hc := &http.Client{Transport: tr, Timeout: o.timeout}
	srOpts := []sr.ClientOpt{sr.URLs(u.String()), sr.HTTPClient(hc), sr.UserAgent("regnotify")}
	if user != "" || pass != "" {
		srOpts = append(srOpts, sr.BasicAuth(user, pass))
	}
	cl, err := sr.NewClient(srOpts...)
	if err != nil {
		return nil, fmt.Errorf("schema registry: %w", err)
	}
	return &SchemaRegistry{cl: cl, http: hc}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Close releases the client's idle connections.
func (r *SchemaRegistry) Close() {
	r.http.CloseIdleConnections()
}

// SchemaByID fetches GET /schemas/ids/{id}. A 404 is [ErrUnknownSchema];
// other answers are described by status and error_code only, never by the
// response body (which might echo the request); transport errors name the
// URL, which NewRegistry made sure carries no credentials.
func (r *SchemaRegistry) SchemaByID(ctx context.Context, id int) (RegisteredSchema, error) {
	s, err := r.cl.SchemaByID(ctx, id)
	if err != nil {
		var re *sr.ResponseError
		switch {
		case errors.As(err, &re) && (re.StatusCode == http.StatusNotFound || re.ErrorCode == 40403):
			return RegisteredSchema{}, fmt.Errorf("schema %d: %w", id, ErrUnknownSchema)
		case errors.As(err, &re):
			return RegisteredSchema{}, fmt.Errorf("GET /schemas/ids/%d: HTTP %d (error_code %d)", id, re.StatusCode, re.ErrorCode)
		}
		return RegisteredSchema{}, err
	}
	return RegisteredSchema{Type: s.Type.String(), Schema: s.Schema, References: len(s.References)}, nil
}
