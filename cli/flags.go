package cli

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The value types below say what a good value looks like when given a bad
// one, and name themselves in help.

const durationForm = "expected a duration such as 90s, 15m or 2h"

// DurationVar shadows the flag package's, whose error for a bad
// duration is "parse error".
func (f *flags) DurationVar(p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	f.Var((*duration)(p), name, usage)
}

type duration time.Duration

func (d *duration) String() string { return (*time.Duration)(d).String() }
func (d *duration) Type() string   { return "duration" }
func (d *duration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return errors.New(durationForm)
	}
	*d = duration(v)
	return nil
}

// CountVar defines a flag for how many of something: at least 1. Its
// default may be 0, meaning the server's.
func (f *flags) CountVar(p *int, name string, value int, usage string) {
	*p = value
	f.Var((*count)(p), name, usage)
}

type count int

func (c *count) String() string { return strconv.Itoa(int(*c)) }
func (c *count) Type() string   { return "int" }
func (c *count) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return errors.New("expected a whole number of at least 1")
	}
	*c = count(n)
	return nil
}

func (*list) Type() string   { return "list" }
func (instant) Type() string { return "time" }

var (
	undefinedFlag = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	missingValue  = regexp.MustCompile(`^flag needs an argument: -+(.*)$`)
	invalidValue  = regexp.MustCompile(`^invalid (?:boolean )?value (".*") for (?:flag )?-+([^:]+): (.*)$`)
)

// explain rewrites the flag package's errors with flags spelled as they
// are typed, and says what a good value looks like where it only says
// "parse error".
func (f *flags) explain(err error) string {
	msg := err.Error()
	if m := undefinedFlag.FindStringSubmatch(msg); m != nil {
		return "unknown flag " + dashed(m[1])
	}
	if m := missingValue.FindStringSubmatch(msg); m != nil {
		return dashed(m[1]) + " needs a value"
	}
	if m := invalidValue.FindStringSubmatch(msg); m != nil {
		why := m[3]
		if fl := f.Lookup(m[2]); fl != nil && (strings.HasSuffix(why, "parse error") || strings.HasSuffix(why, "value out of range")) {
			switch typ, _ := flagType(fl); typ {
			case "":
				why = "expected true or false"
			case "int":
				why = "expected a whole number"
			}
		}
		return "invalid value " + m[1] + " for " + dashed(m[2]) + ": " + why
	}
	return msg
}
