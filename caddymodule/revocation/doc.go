// Package revocation decides whether a verified valet token may still be
// used: it may have been revoked by its jti, its group (grp), a cutoff on
// the key that verified it (kid) or on an audience (aud), or have spent its
// use count (uses). It has no Caddy dependency; applications can import it
// to revoke directly in a Redis store.
//
// # Stores
//
// A Store keeps the entries: BoltStore (a bbolt file, the embedded default
// for one gateway) or RedisStore (one Redis, Sentinel or Cluster, shared by a
// fleet). Every entry expires by itself (Entry.Normalize), so the list never
// grows without bound. A Checker puts a ristretto cache in front of a store.
//
// # Redis key schema
//
// With the default prefix "valet:" (configurable):
//
//	valet:rev:jti:<jti>   any value           revokes the token with that jti
//	valet:rev:grp:<grp>   "all" | <unix-sec>  revokes the group's tokens
//	valet:rev:kid:<kid>   <unix-sec>          revokes the tokens the key verified
//	valet:rev:aud:<aud>   <unix-sec>          revokes the tokens naming the audience
//	valet:uses:<jti>      integer             uses counted so far (INCR)
//	valet:revocations     pub/sub channel; a message "<kind>:<id>" drops every
//	                      gateway's cached answer for that subject, "*" all of them
//
// No key carries a hash tag and no operation touches two keys at once (a
// lookup is a pipeline of one-key commands, the use count a one-key
// script), so on a Redis Cluster nothing can fail with CROSSSLOT. On a
// Cluster, gateways announce with SPUBLISH and listen with both SSUBSCRIBE
// and SUBSCRIBE, so a hand-written PUBLISH still reaches them (see
// redis_pubsub.go). RedisOptions.WaitReplicas makes writes wait for
// replicas (WAIT), so a failover cannot lose them.
//
// A <unix-sec> value is a cutoff: tokens issued at or before that second, and
// tokens without iat, are revoked; later ones are not. Any value that is not a
// positive integer revokes every token of the subject (a malformed entry errs
// on the safe side). Every key must have an expiry (SET ... PXAT/EX): the
// token's exp for a jti, the cutoff plus the longest token lifetime for the
// others. An application revokes by, for example:
//
//	SET valet:rev:jti:Qm9vLi4u EXAT 1767225600 1
//	PUBLISH valet:revocations jti:Qm9vLi4u
//
// Without the PUBLISH, gateways see the entry once their cached "not
// revoked" answer ages out (Options.QuietTTL or LiveTTL).
//
// # Staleness
//
// "Revoked" answers are cached until the entry expires. "Not revoked"
// answers are trusted for LiveTTL while the pub/sub feed is up (each change
// drops the cached answer on every gateway as soon as the message arrives)
// and only for QuietTTL while it is down; on every (re)subscription all
// cached answers become stale, since messages sent meanwhile are lost. A
// revocation therefore takes effect on every gateway within the pub/sub
// delay, and at worst within max(QuietTTL, LiveTTL) if a message is lost
// while the connection looks healthy.
//
// # Failure
//
// A store call that fails or exceeds Options.Timeout makes the decision
// RevocationUnavailable (fail closed), unless Options.StaleFor allows
// answering from answers cached at most that long ago. Use counts are never
// answered from the cache: a counted token is refused while the store is down.
//
// # Use counts
//
// A token with uses=N is admitted at most N times across every gateway
// sharing the store: each admitted request increments the counter
// atomically (Redis INCR in a Lua script, or one bbolt write transaction)
// before the request is served. Every request counts, whatever it is: a
// Range request, a retry after a dropped connection, or a HEAD probe each
// spend a use. Single-use links therefore suit clients that fetch once in
// one request; for resumable downloads mint uses large enough for the
// expected ranges, or rely on exp alone.
package revocation
