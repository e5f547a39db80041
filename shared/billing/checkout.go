package billing

import (
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v85"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/problem"
)

// Credits: one credit is one US dollar of encoding (USD Micros).
const (
	MinCredits = 5
	MaxCredits = 10_000
)

// Packs are the named credit packs Checkout sells.
var Packs = map[string]int64{"starter": 10, "studio": 100, "broadcast": 1000}

// checkoutInput names credits or a pack (one of the two).
type checkoutInput struct {
	Credits int64  `json:"credits,omitempty"`
	Pack    string `json:"pack,omitempty"`
}

// checkout creates a Stripe Checkout Session for credits (a number, or a
// named pack) and answers its URL. The workspace is credited when Stripe
// reports the session paid (webhook), never here.
// checkoutReply is a Checkout session to send the buyer to.
type checkoutReply struct {
	ID      string `json:"id"`
	URL     string `json:"url"`
	Credits int64  `json:"credits"`
}

// cardCheckReply is the SetupIntent the client confirms with Stripe.js.
type cardCheckReply struct {
	SetupIntent  string `json:"setup_intent"`
	ClientSecret string `json:"client_secret"`
}

func (s *Service) checkout(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "billing.Checkout"
	var in checkoutInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	switch {
	case in.Pack != "" && in.Credits != 0:
		return problem.Field(op, "credits", "give credits or pack, not both")
	case in.Pack != "":
		n, ok := Packs[in.Pack]
		if !ok {
			names := make([]string, 0, len(Packs))
			for k := range Packs {
				names = append(names, k)
			}
			sort.Strings(names)
			return problem.Field(op, "pack", "one of "+strings.Join(names, ", "))
		}
		in.Credits = n
	case in.Credits < MinCredits || in.Credits > MaxCredits:
		return problem.Field(op, "credits", "a whole number of credits (US$1 each) from "+strconv.Itoa(MinCredits)+" to "+strconv.Itoa(MaxCredits))
	}
	if s.stripe == nil {
		return problem.Wrap(op, problem.Unavailable, errNoStripe)
	}
	ws := a.Workspace.String()
	p := &stripe.CheckoutSessionCreateParams{
		Mode:              stripe.String(string(stripe.CheckoutSessionModePayment)),
		SuccessURL:        stripe.String(s.publicURL + "/workspaces/" + ws + "/billing?checkout=success"),
		CancelURL:         stripe.String(s.publicURL + "/workspaces/" + ws + "/billing?checkout=canceled"),
		ClientReferenceID: stripe.String(ws),
		LineItems: []*stripe.CheckoutSessionCreateLineItemParams{{
			PriceData: &stripe.CheckoutSessionCreateLineItemPriceDataParams{
				Currency:    stripe.String(string(stripe.CurrencyUSD)),
				UnitAmount:  stripe.Int64(100), // cents per credit
				ProductData: &stripe.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripe.String("Framebroker credits")},
			},
			Quantity: stripe.Int64(in.Credits),
		}},
		Metadata: map[string]string{"workspace_id": ws, "credits": strconv.FormatInt(in.Credits, 10)},
	}
	if k := r.Header.Get("Idempotency-Key"); k != "" && len(k) <= 200 {
		p.SetIdempotencyKey("checkout:" + ws + ":" + k)
	}
	cs, err := s.stripe.V1CheckoutSessions.Create(r.Context(), p)
	if err != nil {
		return problem.Wrap(op, problem.Unavailable, err)
	}
	httpx.JSON(w, http.StatusCreated, checkoutReply{ID: cs.ID, URL: cs.URL, Credits: in.Credits})
	return nil
}

// cardCheck creates a SetupIntent for the workspace's Stripe customer (made
// on first use) and answers its client secret, which the web app confirms
// with Stripe.js. Nothing is charged. The card counts as verified when
// Stripe reports setup_intent.succeeded (webhook).
func (s *Service) cardCheck(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "billing.CardCheck"
	if s.stripe == nil {
		return problem.Wrap(op, problem.Unavailable, errNoStripe)
	}
	ctx := r.Context()
	ws := a.Workspace.String()
	var customer string
	err := db.InWorkspace(ctx, s.pool, a.Workspace.UUID().String(), func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT coalesce((SELECT stripe_customer FROM billing_accounts WHERE workspace_id = $1), '')`, a.Workspace).Scan(&customer)
	})
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if customer == "" {
		cp := &stripe.CustomerCreateParams{Metadata: map[string]string{"workspace_id": ws}}
		cp.SetIdempotencyKey("customer:" + ws)
		c, err := s.stripe.V1Customers.Create(ctx, cp)
		if err != nil {
			return problem.Wrap(op, problem.Unavailable, err)
		}
		customer = c.ID
		err = db.InWorkspace(ctx, s.pool, a.Workspace.UUID().String(), func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO billing_accounts (workspace_id, stripe_customer) VALUES ($1, $2)
				ON CONFLICT (workspace_id) DO UPDATE SET stripe_customer = coalesce(billing_accounts.stripe_customer, $2), updated_at = now()`, a.Workspace, customer)
			return err
		})
		if err != nil {
			return problem.Wrap(op, problem.Internal, err)
		}
	}
	si, err := s.stripe.V1SetupIntents.Create(ctx, &stripe.SetupIntentCreateParams{
		Customer:           stripe.String(customer),
		Usage:              stripe.String(string(stripe.SetupIntentUsageOffSession)),
		PaymentMethodTypes: []*string{stripe.String("card")},
		Metadata:           map[string]string{"workspace_id": ws},
	})
	if err != nil {
		return problem.Wrap(op, problem.Unavailable, err)
	}
	httpx.JSON(w, http.StatusCreated, cardCheckReply{SetupIntent: si.ID, ClientSecret: si.ClientSecret})
	return nil
}
