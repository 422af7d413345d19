// Package gigyasim is a local stand-in for Gigya (SAP Customer Data Cloud)
// good enough to test regnotify against: socialize.notifyRegistration and
// socialize.getUserInfo with Gigya's JSON answers, real verification of the
// apiKey, of all three request-authentication modes (bearer JWT, userKey +
// secret, signed request) and of the siteUID's UIDSig, a small account model
// (pending registrations, a siteUID replacing the UID), and injectable faults
// (latency, rate limit, random and total outages, clock skew). One Server
// serves several sites (Config.Sites: each its own apiKey, credentials,
// partner secret, quota, accounts and site-wide faults) and several data
// centers (Server.DataCenter: a site called through the wrong one answers
// 301001 with apiDomain).
//
// It is a test tool, not a Gigya client and not a mock: it knows nothing of
// regnotify's events or worker, and its admin endpoints (/_sim/...) have no
// authentication. Which of its behaviours Gigya documents and which are our
// guesses is listed in README.md next to this file.
//
// Use it in tests with httptest:
//
//	sim, err := gigyasim.New(gigyasim.Config{APIKey: "3_key", UserKey: "uk", Secret: secretB64, PartnerSecret: partnerB64})
//	ts := httptest.NewServer(sim)
//	defer ts.Close()
//
// or as a process with `regnotify gigya-sim`.
package gigyasim
