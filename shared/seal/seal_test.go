package seal

import (
	"bytes"
	"testing"
)

func TestSealBindsRow(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	b, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	s1 := b.Seal([]byte("secret"), []byte("row-1"))
	s2 := b.Seal([]byte("secret"), []byte("row-1"))
	if bytes.Equal(s1, s2) {
		t.Fatal("two seals of one value are equal: nonce not random")
	}
	if got, err := b.Open(s1, []byte("row-1")); err != nil || string(got) != "secret" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := b.Open(s1, []byte("row-2")); err == nil {
		t.Fatal("opened under another row's additional data")
	}
	s1[len(s1)-1] ^= 1
	if _, err := b.Open(s1, []byte("row-1")); err == nil {
		t.Fatal("opened a tampered value")
	}
	if _, err := b.Open([]byte{1, 2}, nil); err != ErrShort {
		t.Fatalf("short: %v", err)
	}
	other, _ := New(bytes.Repeat([]byte{8}, 32))
	if _, err := other.Open(s2, []byte("row-1")); err == nil {
		t.Fatal("opened under another key")
	}
	if _, err := New([]byte("short")); err == nil {
		t.Fatal("accepted a short key")
	}
}
