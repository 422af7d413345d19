// Package worker consumes registration events from Kafka in a consumer group
// and notifies Gigya of each: per-key ordering with bounded concurrency,
// retries with exponential backoff and jitter, a dead-letter topic for what
// cannot succeed, and offset commits only for events that ended (notified,
// already done or dead-lettered).
//
// It serves several Gigya sites (Config.Sites), each with its own client,
// budget and health (ok, outage, misconfigured, paused): records are routed
// to a site by topic, header or field; a site that is not ok makes only its
// own events wait (holding no concurrency slot), and answers about a site's
// settings pause the site instead of dead-lettering its events.
//
// It is not a Gigya client (package gigya) nor an event parser (package
// events), and it reads no flags or environment (package main does): it takes
// typed options and its dependencies explicitly.
//
// Delivery is at least once. A crash or a rebalance redelivers events that
// had not finished; a redelivered account link that Gigya already applied
// ends as already_done, not as a failure.
package worker
