package token

import "fmt"

// CheckID reports whether id could be a token's jti: MinIDLength to 128
// bytes of printable UTF-8 (docs/token.md). Tools that take a jti from a
// person (revocation) refuse anything else, since no token could carry it.
func CheckID(id string) error {
	if len(id) < MinIDLength || len(id) > 128 || !printable(id) {
		return fmt.Errorf("jti must be %d to 128 printable characters", MinIDLength)
	}
	return nil
}

// CheckGroup reports whether g could be a token's grp: printable UTF-8.
// The empty group is no group.
func CheckGroup(g string) error {
	if !printable(g) {
		return fmt.Errorf("grp must be printable")
	}
	return nil
}
