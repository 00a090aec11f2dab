package memo

import (
	"fmt"
	"testing"
)

// TestMemory: what is put is found, across one change of generation and
// not two, and the entries never exceed two generations.
func TestMemory(t *testing.T) {
	m := New[int](4)
	first := Sum("token-0")
	m.Put(first, 7)
	if v, ok := m.Get(first); !ok || v != 7 {
		t.Fatalf("Get = %d, %v; want 7", v, ok)
	}
	if _, ok := m.Get(Sum("never put")); ok {
		t.Fatal("found a token never put")
	}
	for i := 1; i < 5; i++ { // the fifth Put begins a generation
		m.Put(Sum(fmt.Sprint("token-", i)), i)
	}
	if _, ok := m.Get(first); !ok {
		t.Fatal("lost an entry after one change of generation")
	}
	for i := 5; i < 9; i++ {
		m.Put(Sum(fmt.Sprint("token-", i)), i)
	}
	if _, ok := m.Get(first); ok {
		t.Fatal("kept an entry after two changes of generation")
	}
	if n := len(m.cur) + len(m.old); n > 8 {
		t.Fatalf("%d entries; want at most 2 x 4", n)
	}
	m.Forget()
	if _, ok := m.Get(Sum("token-8")); ok {
		t.Fatal("found an entry after Forget")
	}
}
