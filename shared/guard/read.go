package guard

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/problem"
)

// ReadOne is the ReadFunc of a route that answers one row as JSON (200):
// query returns the statement and its arguments for the request (from the
// workspace and path resources of a), scan reads its row. No row is the
// guard's 404, like a resource that does not exist; other errors are
// internal errors of op.
func ReadOne[T any](op string, query func(a *Access) (string, []any), scan func(pgx.Row) (T, error)) ReadFunc {
	return func(r *http.Request, a *Access, b *pgx.Batch) HandlerFunc {
		sql, args := query(a)
		var v T
		var err error
		b.Queue(sql, args...).QueryRow(func(row pgx.Row) error {
			v, err = scan(row)
			return nil
		})
		return func(w http.ResponseWriter, _ *http.Request, _ *Access) error {
			if err != nil {
				return NotFoundOr(op, err)
			}
			httpx.JSON(w, http.StatusOK, v)
			return nil
		}
	}
}

// ReadPage is the ReadFunc of a route that answers one keyset page of rows
// as an httpx.List (200), with the page (?limit, ?cursor) read from the
// request. query returns the statement and its arguments for a; as for
// db.ListPage, the statement must end with its own conditions and take the
// cursor and the row count as its last two parameters ("… AND id > $2
// ORDER BY id LIMIT $3" for one argument). key is a row's cursor.
func ReadPage[T any](op string, query func(a *Access) (string, []any), scan func(pgx.Row) (T, error), key func(T) uuid.UUID) ReadFunc {
	return func(r *http.Request, a *Access, b *pgx.Batch) HandlerFunc {
		p, err := httpx.ParsePage(r)
		if err != nil {
			return func(http.ResponseWriter, *http.Request, *Access) error { return err }
		}
		sql, args := query(a)
		var items []T
		b.Queue(sql, append(args, p.After, p.Limit+1)...).Query(func(rows pgx.Rows) error {
			items, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) { return scan(row) })
			return nil
		})
		return func(w http.ResponseWriter, _ *http.Request, _ *Access) error {
			if err != nil {
				return problem.Wrap(op, problem.Internal, err)
			}
			httpx.JSON(w, http.StatusOK, httpx.NewList(p, items, key))
			return nil
		}
	}
}
