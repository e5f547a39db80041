package problem

import "sort"

// Refusal is one specific reason a request is refused. It has its own
// problem `type` (TypeBase + Slug), so a client can tell "verify your email"
// from "your role is too low" although both are 403; its Kind still decides
// the HTTP status. Advice says what a client should do; the README lists
// every refusal with it (a test keeps the list complete).
type Refusal struct {
	Slug   string // stable API: the part of `type` after TypeBase
	Kind   Kind   // the HTTP mapping
	Title  string // the problem `title`
	Advice string // what a client should do about it
}

var refusals = map[string]Refusal{}

func refusal(slug string, kind Kind, title, advice string) Refusal {
	if _, dup := refusals[slug]; dup {
		panic("problem: refusal " + slug + " declared twice")
	}
	f := Refusal{Slug: slug, Kind: kind, Title: title, Advice: advice}
	refusals[slug] = f
	return f
}

// The refusals. Each is its own problem type; add new ones here (and to the
// README) rather than reusing a Kind's generic type for a new reason.
var (
	EmailUnverified = refusal("email-unverified", Forbidden, "Email address not verified",
		"Follow the verification link mailed at signup (POST /v1/auth/verify-email/resend sends a new one), then retry.")
	RoleInsufficient = refusal("role-insufficient", Forbidden, "Role too low",
		"Ask an owner or admin of the workspace for a higher role; retrying does not help.")
	OwnerRoleRequired = refusal("owner-role-required", Forbidden, "Only an owner can do this",
		"Only an owner may grant, change or take away the owner role; ask an owner.")
	ProviderEmailUnverified = refusal("provider-email-unverified", Forbidden, "Provider account email not verified",
		"Verify the email address at the sign-in provider (Google, GitHub), then sign in again.")
	CardRequired = refusal("card-required", PaymentRequired, "No card and no credits",
		"Verify a card (POST …/billing/card-check) or buy credits (POST …/checkout), then retry.")
	CreditsInsufficient = refusal("credits-insufficient", PaymentRequired, "Credits do not cover this",
		"Buy credits (POST …/checkout) or verify a card, then retry.")
	SpendCeilingReached = refusal("spend-ceiling-reached", PaymentRequired, "Spend ceiling reached",
		"Wait until the window resets (Retry-After, and the time in `detail`) or have an admin raise the ceiling (PUT …/settings).")
	RateLimitedRefusal = refusal("rate-limited", RateLimited, "Too many requests",
		"Wait the number of seconds in Retry-After (see also the RateLimit header), then retry.")
	WorkspaceDeleting = refusal("workspace-deleting", Conflict, "Workspace scheduled for deletion",
		"The workspace is read-only until it is purged; its owner can cancel the deletion (DELETE …/deletion) to write again.")
	LastOwner = refusal("last-owner", Conflict, "A workspace keeps at least one owner",
		"Promote another member to owner first, then retry.")
	AlreadyMember = refusal("already-member", Conflict, "Already a member",
		"Nothing to do: the address already belongs to a member; change their role with PATCH …/members/{user}.")
	InvitationInvalid = refusal("invitation-invalid", NotFound, "Invitation not found",
		"The link is wrong, was revoked or was already used; ask the workspace's admin for a new invitation.")
	InvitationExpired = refusal("invitation-expired", Conflict, "Invitation expired",
		"Ask the workspace's admin to invite the address again.")
	NoContentCredentials = refusal("no-content-credentials", Unprocessable, "The file carries no Content Credentials",
		"Send an output Framebroker signed (MP4 or JPEG); playlists and MPEG-TS rungs carry none.")
	MediaUnreadable = refusal("media-unreadable", Unprocessable, "Not a readable MP4 or JPEG",
		"Send the file exactly as downloaded; only ISO BMFF (MP4) and JPEG files carry embedded credentials here.")
	MediaRefused = refusal("media-refused", Unprocessable, "Media format refused",
		"Upload self-contained media whose format matches content_type (MP4/MOV, Matroska/WebM, MXF, WAV/AIFF/FLAC/MP3/AAC, PNG/JPEG/TIFF/EXR); playlists (HLS, DASH) and reference lists (ffconcat) are never accepted. `detail` names the detected format.")
	UploadMismatch = refusal("upload-mismatch", Unprocessable, "Uploaded bytes do not match the declaration",
		"The stored object's size, type or SHA-256 differs from what the asset declared; the upload is rejected and deleted. Create a new asset with the file's real size and SHA-256.")
	UploadIncomplete = refusal("upload-incomplete", Conflict, "Upload not finished",
		"PUT the file (or the parts `detail` lists as missing; GET …/parts shows what the store holds) to the presigned URLs with their headers, then complete again.")
	SecondFactorRequired = refusal("second-factor-required", Unauthenticated, "Second factor required",
		"The account has two-factor authentication: send totp (the 6-digit code) or recovery_code along with the other credentials.")
	InvitationEmailMismatch = refusal("invitation-email-mismatch", Forbidden, "Invitation is for another address",
		"Sign in with the account of the invited address (or sign up with it), verify it, then open the link again.")
)

// Refusals lists every refusal, ordered by slug.
func Refusals() []Refusal {
	out := make([]Refusal, 0, len(refusals))
	for _, f := range refusals {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slug < out[j].Slug })
	return out
}

// Type is the refusal's problem `type` URI.
func (f Refusal) Type() string { return TypeBase + f.Slug }

// E builds an Error of this refusal with a client-facing detail.
func (f Refusal) E(op, detail string) *Error {
	return &Error{Op: op, Kind: f.Kind, Refusal: f.Slug, Detail: detail}
}

// Is reports whether err carries this refusal.
func (f Refusal) Is(err error) bool { return refusalOf(err) == f.Slug }
