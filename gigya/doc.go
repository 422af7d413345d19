// Package gigya is regnotify's client for the two Gigya (SAP Customer Data
// Cloud) REST calls it needs: socialize.notifyRegistration, which links a
// Gigya account to the site's own user id, and socialize.getUserInfo, which
// confirms a link after an ambiguous failure.
//
// Everything that is specific to Gigya lives here, so that the rest of the
// worker never sees HTTP: request authentication in its three modes (bearer
// JWT, userKey + secret, OAuth1-style signed request), the UIDSig of a
// siteUID, the clock offset kept from Gigya's Date header, and the one table
// that says which errorCode is transient, permanent or a clock problem
// ([ClassOf]). Timestamps, nonces, JWTs and UIDSigs are made anew for every
// HTTP attempt, because events can wait in Kafka for hours and Gigya rejects
// stale or replayed credentials.
//
// What the package is not: it does not retry (except the single, immediate
// retry after 403002 "request has expired", which only this package can fix
// by correcting its clock offset), does not rate-limit, does not decide
// whether an event goes to the dead-letter topic and does not log failures;
// it returns a typed [*Error] whose methods (Temporary, Ambiguous,
// RateLimited, PerUser, UnknownUser) let the caller decide. It is not a
// general Gigya SDK either: only the calls regnotify makes are implemented.
// The local stand-in for Gigya used in tests and `regnotify dev` is the
// separate package gigya/gigyasim.
//
// No secret (application secret, partner secret, private key, bearer token,
// request signature, UIDSig) is ever put into an error text, a log field or
// the String form of [Options].
package gigya
