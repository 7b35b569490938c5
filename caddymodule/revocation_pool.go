package caddymodule

import (
	"encoding/json"
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/valetkey/caddy-valet/caddymodule/revocation"
)

// Open stores and their checkers outlive a config reload in these pools:
// a reload with the same settings keeps the connections, the subscription
// and the warm cache. Stores are pooled apart from checkers because a bbolt
// file can be open only once, while checkers with different cache settings
// may share it.
var (
	revocationStores   = caddy.NewUsagePool()
	revocationCheckers = caddy.NewUsagePool()
)

type pooledStore struct{ revocation.Store }

func (p pooledStore) Destruct() error { return p.Store.Close() }

type pooledChecker struct {
	name     string
	storeKey string
	checker  *revocation.Checker
}

func (p *pooledChecker) Destruct() error {
	p.checker.Close()
	_, err := revocationStores.Delete(p.storeKey)
	return err
}

// loadChecker returns the shared checker for a name, store and options,
// and the pool key to release it with.
func loadChecker(name string, mod RevocationStore, opts revocation.Options) (*revocation.Checker, string, error) {
	storeKey := mod.StoreKey()
	optsKey, err := json.Marshal(struct {
		Name string
		Opts revocation.Options
	}{name, opts})
	if err != nil {
		return nil, "", err
	}
	key := storeKey + "\x00" + string(optsKey)
	val, _, err := revocationCheckers.LoadOrNew(key, func() (caddy.Destructor, error) {
		val, _, err := revocationStores.LoadOrNew(storeKey, func() (caddy.Destructor, error) {
			s, err := mod.OpenStore()
			if err != nil {
				return nil, err
			}
			return pooledStore{s}, nil
		})
		if err != nil {
			return nil, fmt.Errorf("opening revocation store: %w", err)
		}
		checker, err := revocation.NewChecker(val.(pooledStore).Store, opts)
		if err != nil {
			_, _ = revocationStores.Delete(storeKey)
			return nil, err
		}
		return &pooledChecker{name: name, storeKey: storeKey, checker: checker}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return val.(*pooledChecker).checker, key, nil
}

// checkerNamed finds a live checker by revocation list name, for the admin
// API. Checkers of one name must share a store, or the name is ambiguous.
func checkerNamed(name string) (*revocation.Checker, error) {
	var (
		found    *revocation.Checker
		storeKey string
		clash    bool
	)
	revocationCheckers.Range(func(_, val any) bool {
		pc := val.(*pooledChecker)
		if pc.name != name {
			return true
		}
		if found != nil && pc.storeKey != storeKey {
			clash = true
			return false
		}
		found, storeKey = pc.checker, pc.storeKey
		return true
	})
	switch {
	case clash:
		return nil, fmt.Errorf("revocation list %q names two different stores; give them distinct names", name)
	case found == nil:
		return nil, fmt.Errorf("no revocation list named %q is configured", name)
	}
	return found, nil
}
