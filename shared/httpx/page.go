package httpx

import (
	"encoding/base64"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/framebroker/framebroker/shared/problem"
)

// Page is a cursor page request: items after Cursor (exclusive), at most Limit.
type Page struct {
	After uuid.UUID // uuid.Nil: from the start
	Limit int
}

// Page limits.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// ParsePage reads ?limit= and ?cursor= from r.
func ParsePage(r *http.Request) (Page, error) {
	const op = "httpx.ParsePage"
	p := Page{Limit: DefaultLimit}
	q := r.URL.Query()
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return Page{}, problem.Field(op, "limit", "must be an integer from 1 to "+strconv.Itoa(MaxLimit))
		}
		p.Limit = n
	}
	if s := q.Get("cursor"); s != "" {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) != 16 {
			return Page{}, problem.Field(op, "cursor", "is not a cursor this API returned")
		}
		copy(p.After[:], b)
	}
	return p, nil
}

// List is a page of results. NextCursor is empty on the last page.
type List[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor,omitempty"`
	HasMore    bool   `json:"has_more"`
}

// NewList builds a List from up to Limit+1 fetched items (fetch one more than
// the limit to learn whether there is a next page); key gives an item's id.
func NewList[T any](p Page, items []T, key func(T) uuid.UUID) List[T] {
	l := List[T]{Data: items}
	if l.Data == nil {
		l.Data = []T{}
	}
	if len(items) > p.Limit {
		l.Data = items[:p.Limit]
		last := key(l.Data[len(l.Data)-1])
		l.NextCursor = base64.RawURLEncoding.EncodeToString(last[:])
		l.HasMore = true
	}
	return l
}
