// Package quota shares a Gigya call budget (a site's rateLimit or a named
// quota, in calls per second) across the whole consumer group, adapts this
// worker's rate to 403048 answers, and orders the live and bulk lanes
// (contract: "Quota and lanes").
//
// # One governor per budget
//
// A [Governor] paces the calls of one budget in this process: a token
// bucket with a burst of about one call, at the governor's current rate.
// Every Gigya call of the budget first takes a [Permit] with
// [Governor.Acquire]; a call answered 403048 hands its permit back to
// [Governor.RateLimited] and takes a new permit before it is sent again.
//
// # Group-wide share: partition share
//
// The budget is the group's, not the process's. A worker's share is
//
//	budget × (partitions of the budget's topics assigned to this member)
//	       ÷ (all partitions of those topics)
//
// computed by [Share] from the assignment of every consumer-group
// generation and given to the governor with [Governor.SetShare]. Why this
// mechanism:
//   - Shares add up to at most the budget by construction: the group
//     coordinator gives each partition to exactly one member, so the
//     fractions of all members add up to at most one, whatever the members'
//     clocks or the order in which they learn about a rebalance.
//   - It follows membership within one rebalance (KEDA adding or removing
//     replicas): a new generation is a new assignment is a new share, with
//     no coordination beyond what Kafka already does, no extra topic, no
//     leader and no heartbeat of our own.
//   - The work follows the same partitions: a member's events come from
//     its partitions, so its share of the calls is where its events are.
//
// Failure modes, and what they cost:
//   - A member that died but is still in the group keeps its partitions,
//     and with them its share, until the session timeout expires and the
//     group rebalances. Its partitions are not consumed meanwhile, so the
//     group runs below the budget (never above) for at most one session
//     timeout.
//   - Uneven load across partitions: a member whose partitions carry
//     fewer events than their share leaves part of its share unused, while
//     a member with hot partitions is held to its share. The group then
//     achieves less than the budget. Demand-weighted redistribution (members
//     lending unused share) is out of scope: it needs a side channel between
//     members and can overshoot while it converges. Many partitions per
//     member and keys spread by uid (murmur2) keep the imbalance small.
//   - At a rebalance, events still in flight from the ended generation
//     finish at the old share while the new generation's members start at
//     theirs: the group can be above the budget for at most the drain of
//     those events (one Gigya round trip per event, bounded by the
//     shutdown/drain timeout), which the AIMD below absorbs if Gigya
//     objects.
//   - Partition counts read from metadata: after partitions are added to a
//     topic, members with older metadata compute with the old count until
//     the rebalance that the change itself triggers.
//   - A topic that feeds several budgets (siteFrom) counts for each of
//     them; a budget no assigned topic feeds gets a share of zero.
//
// # Adaptive rate: AIMD
//
// The governor starts at its share. A 403048 cuts the current rate at once
// (multiplicative decrease, ×[Config.Decrease]) and it climbs back by
// [Config.Increase] × share per second (additive increase) up to the share:
// the quota may be smaller than configured or shared with systems outside
// the group. A burst of 403048 from calls already in flight cuts only once:
// a permit remembers the cut epoch it was taken in, and a 403048 on a call
// sent before the last cut does not cut again (it is the same congestion,
// already answered). Those late answers still say how much of the old rate
// the quota took (refused ÷ sent in that epoch), and the rate goes down to
// that at once, but never below a second cut per epoch: far over the quota
// (configured 2000/s, real 200/s) it reaches the real quota in two or three
// round trips instead of seven, and a burst of refusals cannot collapse it.
// The rate never falls below [Config.Floor] × share. The defaults are
// chosen by the simulation in sim_test.go: with the real quota a tenth of
// the configured one, about 1.04–1.09 calls per event and ≈ 1.0 of the quota
// achieved over a minute (what start-up costs weighs more in short runs
// with long round trips: 200 ms round trips over only 10 s give 1.27).
//
// # Lanes
//
// When live and bulk callers wait for the same governor, live goes first;
// bulk gets the tokens live leaves. [Slots] is the worker's concurrency gate
// with the same priority: bulk events hold at most their own number of slots,
// so live events always find the rest.
//
// It is not a Gigya client, does no Kafka I/O and keeps no metrics itself:
// the worker reads [Governor.Rate] for regnotify_rate_limit{site}.
package quota
