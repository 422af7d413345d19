package gigya

// codeInfo is one row of the code table: what an errorCode means, its
// class, and whether it concerns the site's settings rather than the user.
type codeInfo struct {
	class   Class
	meaning string
	// siteWide codes concern the site's settings (API key, credentials,
	// permissions), not the event: no event can fix them, so the worker
	// pauses the site instead of dead-lettering.
	siteWide bool
	// setting names what an operator should check (site-wide codes and
	// 301001).
	setting string
	// why explains the class where it is not obvious.
	why string
}

// codes is the code table of the Gigya notes (gigya/README.md): the only
// place where codes are classified. Codes outside it are transient if
// 5xxxxx and permanent otherwise (ClassOf), and counted as "other" in
// metrics (KnownCode).
var codeTable = map[int]codeInfo{
	0:      {class: ClassPermanent, meaning: "success"},
	500001: {class: ClassTransient, meaning: "general server error"},
	500002: {class: ClassTransient, meaning: "general server error"},
	500026: {class: ClassTransient, meaning: "network error"},
	500028: {class: ClassTransient, meaning: "server error"},
	500034: {class: ClassTransient, meaning: "server error"},
	504001: {class: ClassTransient, meaning: "timeout"},
	504002: {class: ClassTransient, meaning: "timeout", why: "ambiguous: it may have been applied (Error.Ambiguous)"},
	409030: {class: ClassTransient, meaning: "more than 5 concurrent requests for one UID", why: "per user, not an outage"},
	503001: {class: ClassTransient, meaning: "too many calls for one UID", why: "per user, not an outage"},
	403048: {class: ClassTransient, meaning: "API rate limit exceeded", why: "a budget, not a failure: wait for quota"},
	403004: {class: ClassTransient, meaning: "duplicate nonce", why: "the next attempt has a new nonce"},
	403002: {class: ClassClock, meaning: "request has expired", why: "the clock offset is corrected from Date"},
	400001: {class: ClassPermanent, meaning: "invalid request format"},
	400002: {class: ClassPermanent, meaning: "missing required parameter"},
	400003: {class: ClassPermanent, meaning: "unique identifier exists"},
	400004: {class: ClassPermanent, meaning: "invalid parameter"},
	400006: {class: ClassPermanent, meaning: "invalid parameter value"},
	400009: {class: ClassPermanent, meaning: "validation error"},
	400093: {class: ClassPermanent, meaning: "invalid apiKey", siteWide: true,
		setting: "the site's apiKey (apiKey / --gigya-api-key)", why: "every call of the site fails the same way"},
	403000: {class: ClassPermanent, meaning: "unauthorized"},
	403003: {class: ClassPermanent, meaning: "invalid request signature", siteWide: true,
		setting: "the site's secret or partner secret (secretFile, partnerSecretFile / --gigya-secret, --gigya-partner-secret)",
		why:     "the signature comes from the site's credentials, not the event"},
	403005: {class: ClassPermanent, meaning: "unauthorized user", why: "after a siteUID link, confirm with getUserInfo"},
	403006: {class: ClassPermanent, meaning: "secret sent over HTTP", siteWide: true,
		setting: "the site's baseURL or auth (use https, or auth signed / bearer)", why: "a transport setting of the site"},
	403007: {class: ClassPermanent, meaning: "permission denied", siteWide: true,
		setting: "the application key's permissions (userKey / --gigya-user-key) in the Gigya console",
		why:     "the application key lacks rights to the method"},
	403010: {class: ClassPermanent, meaning: "invalid secret", siteWide: true,
		setting: "the site's secret (secretFile / --gigya-secret)", why: "the site's credentials are wrong"},
	403025: {class: ClassPermanent, meaning: "expired or invalid token"},
	403043: {class: ClassPermanent, meaning: "login identifier exists"},
	404000: {class: ClassPermanent, meaning: "not found"},
	404003: {class: ClassPermanent, meaning: "UID not found", why: "after a siteUID link, confirm with getUserInfo"},
	409001: {class: ClassPermanent, meaning: "identity exists"},
	301001: {class: ClassPermanent, meaning: "wrong data center",
		setting: "the site's dataCenter (dataCenter / --gigya-data-center)",
		why:     "the answer's apiDomain names the right one: the worker follows it"},
}

// KnownCode reports whether code is in the code table. Metrics label
// codes outside it "other", so that label values stay bounded.
func KnownCode(code int) bool {
	_, ok := codeTable[code]
	return ok
}

// SiteWide reports whether code concerns the site's settings rather than
// the user (400093, 403003, 403006, 403007, 403010): no event can fix it.
func SiteWide(code int) bool { return codeTable[code].siteWide }

// CodeSetting names the setting an operator should check after code (a
// site-wide code or 301001), or "" for other codes.
func CodeSetting(code int) string { return codeTable[code].setting }
