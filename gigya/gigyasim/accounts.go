package gigyasim

import "sync"

// account is one simulated Gigya account.
type account struct {
	gigyaUID   string // the UID it was created with
	siteUID    string // "" until notifyRegistration linked it; then its UID
	registered bool   // notifyRegistration succeeded for it
}

// accountStore is the account model. One mutex: a link touches two keys (the
// old UID and the siteUID) and every critical section is a few map operations.
type accountStore struct {
	mu         sync.Mutex
	byID       map[string]*account // current UID (the siteUID once linked) → account
	replaced   map[string]*account // UID replaced by a siteUID → account
	seed       []string
	linked     int
	registered int
}

func newAccountStore(seed []string) *accountStore {
	a := &accountStore{seed: append([]string(nil), seed...)}
	a.reset()
	return a
}

// reset forgets everything but the seeded (known, not yet registered) accounts.
func (a *accountStore) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.byID = make(map[string]*account, len(a.seed))
	a.replaced = make(map[string]*account)
	a.linked, a.registered = 0, 0
	for _, uid := range a.seed {
		if uid != "" {
			a.byID[uid] = &account{gigyaUID: uid}
		}
	}
}

// notify applies a notifyRegistration whose parameters are already verified.
func (a *accountStore) notify(uid, siteUID string, withSiteUID, strict bool) *apiError {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.replaced[uid]; ok {
		return errorf(codeUnauthorizedUser, "UID %q was replaced by a siteUID", uid)
	}
	acct := a.byID[uid]
	isNew := acct == nil
	if isNew {
		if strict {
			return errorf(codeUnauthorizedUser, "UID %q is unknown (strict mode)", uid)
		}
		// Not strict: an unknown UID is a pending registration.
		acct = &account{gigyaUID: uid}
	}
	if !withSiteUID {
		if isNew {
			a.byID[uid] = acct
		}
		a.markRegistered(acct)
		return nil
	}
	if acct.siteUID != "" {
		// uid is already this account's siteUID and another one is asked for.
		return errorf(codeIdentityExists, "account %q is already linked to a siteUID", uid)
	}
	if a.byID[siteUID] != nil || a.replaced[siteUID] != nil {
		return errorf(codeIdentityExists, "siteUID %q already belongs to another account", siteUID)
	}
	delete(a.byID, uid)
	acct.siteUID = siteUID
	a.byID[siteUID] = acct
	a.replaced[uid] = acct
	a.linked++
	a.markRegistered(acct)
	return nil
}

func (a *accountStore) markRegistered(acct *account) {
	if !acct.registered {
		acct.registered = true
		a.registered++
	}
}

// accountView is what getUserInfo reports.
type accountView struct {
	uid        string
	isSiteUID  bool
	registered bool
}

// lookup finds the account whose current UID is id. A UID the simulator never
// saw is unknown here even when not strict: it cannot tell a pending
// registration from a typo, and answering "exists" would make the worker's
// "already linked?" check pass for anything.
func (a *accountStore) lookup(id string) (accountView, *apiError) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.replaced[id]; ok {
		return accountView{}, errorf(codeUnauthorizedUser, "UID %q was replaced by a siteUID", id)
	}
	acct := a.byID[id]
	if acct == nil {
		return accountView{}, errorf(codeUnauthorizedUser, "UID %q is unknown", id)
	}
	return accountView{uid: id, isSiteUID: acct.siteUID == id, registered: acct.registered}, nil
}

// owner returns the Gigya UID that siteUID replaced.
func (a *accountStore) owner(siteUID string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	acct := a.byID[siteUID]
	if acct == nil || acct.siteUID != siteUID {
		return "", false
	}
	return acct.gigyaUID, true
}

func (a *accountStore) counts() (accounts, linked, registered int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.byID), a.linked, a.registered
}
