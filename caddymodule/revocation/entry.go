package revocation

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// Kind says what a revocation entry names.
type Kind string

// The kinds of revocation. JTI and Group entries may carry a cutoff; Key and
// Audience entries must: they are the incident switch ("everything this key
// signed before now"), not a way to disable a key for good (remove the key
// from the gateway's configuration for that).
const (
	JTI      Kind = "jti" // one token, by its jti claim
	Group    Kind = "grp" // the tokens carrying a grp claim
	Key      Kind = "kid" // the tokens a key verified
	Audience Kind = "aud" // the tokens naming an audience
)

// Kinds lists every kind, in the order a token's subjects are checked.
var Kinds = []Kind{JTI, Group, Key, Audience}

// MaxIDLength bounds a subject id; token ids are at most 128 characters.
const MaxIDLength = 256

// Subject is one thing that can be revoked: a kind and an id.
type Subject struct {
	Kind Kind   `json:"kind"`
	ID   string `json:"id"`
}

func (s Subject) String() string { return string(s.Kind) + ":" + s.ID }

// ParseSubject reads the "kind:id" form String writes (and pub/sub carries).
func ParseSubject(s string) (Subject, error) {
	kind, id, ok := strings.Cut(s, ":")
	sub := Subject{Kind: Kind(kind), ID: id}
	if !ok {
		return sub, fmt.Errorf("subject %q is not kind:id", s)
	}
	return sub, sub.Validate()
}

// Validate refuses unknown kinds and ids no token could carry.
func (s Subject) Validate() error {
	switch s.Kind {
	case JTI, Group, Key, Audience:
	default:
		return fmt.Errorf("unknown revocation kind %q (use jti, grp, kid or aud)", s.Kind)
	}
	if s.ID == "" || len(s.ID) > MaxIDLength || !utf8.ValidString(s.ID) ||
		strings.ContainsFunc(s.ID, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("%s id must be 1 to %d printable characters", s.Kind, MaxIDLength)
	}
	return nil
}

// SubjectsOf lists what could revoke a verified token: its jti, its group,
// the key that verified it and each audience it names.
func SubjectsOf(c *token.Claims) []Subject {
	return AppendSubjects(make([]Subject, 0, 3+len(c.Audience)), c)
}

// AppendSubjects appends SubjectsOf(c) to subs: with room in subs, the
// check of a hot token allocates nothing for them.
func AppendSubjects(subs []Subject, c *token.Claims) []Subject {
	subs = append(subs, Subject{JTI, c.ID})
	if c.Group != "" {
		subs = append(subs, Subject{Group, c.Group})
	}
	if kid := c.KeyID(); kid != "" {
		subs = append(subs, Subject{Key, kid})
	}
	for _, aud := range c.Audience {
		if aud != "" {
			subs = append(subs, Subject{Audience, aud})
		}
	}
	return subs
}

// Entry is one active revocation.
type Entry struct {
	Subject
	// Before, when set, is a cutoff: only tokens issued at or before it (in
	// whole seconds, the precision of iat) are revoked, and so is every
	// token without iat, since nothing shows it was issued later. Zero means
	// every token of the subject.
	Before time.Time `json:"before,omitzero"`
	// Expires is when the entry disappears by itself. Zero means never,
	// which only an entry written to Redis by hand without a TTL can have.
	Expires time.Time `json:"expires,omitzero"`
}

// Covers reports whether the entry revokes a token.
func (e *Entry) Covers(c *token.Claims) bool {
	if e.Before.IsZero() {
		return true
	}
	if c.IssuedAt == nil {
		return true
	}
	return c.IssuedAt.Unix() <= e.Before.Unix()
}

// Live reports whether the entry still applies at now.
func (e *Entry) Live(now time.Time) bool {
	return e.Expires.IsZero() || now.Before(e.Expires)
}

// Normalize checks an entry a caller wants to store and fills in its
// expiry: when none is given, maxTTL after the later of now and the cutoff,
// by which time every token it could revoke has expired (when the gateway
// enforces a max_ttl no longer than this one).
func (e *Entry) Normalize(now time.Time, maxTTL time.Duration) error {
	if err := e.Validate(); err != nil {
		return err
	}
	if (e.Kind == Key || e.Kind == Audience) && e.Before.IsZero() {
		return fmt.Errorf("a %s revocation needs a cutoff (before)", e.Kind)
	}
	if e.Kind == JTI && !e.Before.IsZero() {
		return fmt.Errorf("a jti revocation takes no cutoff")
	}
	e.Before = e.Before.Truncate(time.Second)
	if e.Expires.IsZero() {
		if maxTTL <= 0 {
			return fmt.Errorf("no expiry given and no max_ttl to derive one")
		}
		from := now
		if e.Before.After(now) {
			from = e.Before
		}
		e.Expires = from.Add(maxTTL)
	}
	e.Expires = e.Expires.Truncate(time.Millisecond)
	if !e.Expires.After(now) {
		return fmt.Errorf("expiry %s is in the past", e.Expires.Format(time.RFC3339))
	}
	return nil
}
