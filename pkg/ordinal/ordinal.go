// Package ordinal holds the naming rules shared by peer-finder and the PetSet
// controller: pets are named <set>-<ordinal>, claims <template>-<set>-<ordinal>,
// and lists of pets sort by ordinal (web-2 before web-10).
package ordinal

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// MaxLabelLength is the longest valid DNS-1123 label.
const MaxLabelLength = 63

// Parse splits a name of the form <parent>-<N> into its parent and ordinal.
// N must be a decimal number without sign or leading zeros (except "0") that
// fits in an int32, and parent must not be empty.
func Parse(name string) (parent string, ord int, ok bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 || i == len(name)-1 {
		return "", 0, false
	}
	digits := name[i+1:]
	if len(digits) > 1 && digits[0] == '0' {
		return "", 0, false
	}
	n := 0
	for j := 0; j < len(digits); j++ {
		c := digits[j]
		if c < '0' || c > '9' {
			return "", 0, false
		}
		n = n*10 + int(c-'0')
		if n > math.MaxInt32 {
			return "", 0, false
		}
	}
	return name[:i], n, true
}

// ParseFQDN parses the first DNS label of a fully qualified name, so
// "web-3.web.default.svc.cluster.local." gives ("web", 3, true).
func ParseFQDN(fqdn string) (parent string, ord int, ok bool) {
	label, _, _ := strings.Cut(fqdn, ".")
	return Parse(label)
}

// PetName is the name of the pet with ordinal i in the set: <set>-<i>.
func PetName(set string, i int) string {
	return set + "-" + strconv.Itoa(i)
}

// ClaimName is the name of the claim made from a volume claim template for
// the pet with ordinal i: <template>-<set>-<i>.
func ClaimName(template, set string, i int) string {
	return template + "-" + set + "-" + strconv.Itoa(i)
}

// Compare orders two names or FQDNs. When both first labels parse as
// <parent>-<N> with the same parent (case-insensitively), they compare by N, then
// by the rest of the name. Otherwise names with an ordinal come before those
// without, and the rest compare lexicographically without regard to case.
// It returns -1, 0 or +1.
func Compare(a, b string) int {
	pa, na, oka := ParseFQDN(a)
	pb, nb, okb := ParseFQDN(b)
	switch {
	case oka && okb:
		if c := strings.Compare(strings.ToLower(pa), strings.ToLower(pb)); c != 0 {
			return c
		}
		if na != nb {
			if na < nb {
				return -1
			}
			return 1
		}
	case oka:
		return -1
	case okb:
		return 1
	}
	if c := strings.Compare(strings.ToLower(a), strings.ToLower(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// Sort sorts names in place by Compare, keeping equal names in their order.
func Sort(names []string) {
	sort.SliceStable(names, func(i, j int) bool { return Compare(names[i], names[j]) < 0 })
}

// IsDNSLabel reports why s is not a valid DNS-1123 label, or nil if it is one:
// 1 to 63 lower-case letters, digits or '-', starting and ending with a letter
// or digit.
func IsDNSLabel(s string) error {
	if s == "" {
		return fmt.Errorf("name must not be empty")
	}
	if len(s) > MaxLabelLength {
		return fmt.Errorf("%q is %d characters long, more than the %d a DNS label allows", s, len(s), MaxLabelLength)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
		if alnum {
			continue
		}
		if c == '-' && i != 0 && i != len(s)-1 {
			continue
		}
		return fmt.Errorf("%q is not a valid DNS label: it must consist of lower-case letters, digits and '-', and start and end with a letter or digit", s)
	}
	return nil
}

// ValidateNames checks that the name of every pet <set>-<i> and every claim
// <template>-<set>-<i>, for i in [start, start+replicas), is a valid DNS label.
// Only the highest ordinal needs checking, since it has the most digits.
func ValidateNames(set string, templates []string, start, replicas int) error {
	if start < 0 {
		return fmt.Errorf("start ordinal %d is negative", start)
	}
	if replicas < 0 {
		return fmt.Errorf("replicas %d is negative", replicas)
	}
	if err := IsDNSLabel(set); err != nil {
		return fmt.Errorf("set name: %w", err)
	}
	last := start
	if replicas > 0 {
		last = start + replicas - 1
	}
	if last > math.MaxInt32 {
		return fmt.Errorf("ordinal %d is out of range", last)
	}
	if err := IsDNSLabel(PetName(set, last)); err != nil {
		return fmt.Errorf("pet name: %w", err)
	}
	for _, t := range templates {
		if err := IsDNSLabel(t); err != nil {
			return fmt.Errorf("volume claim template name: %w", err)
		}
		if err := IsDNSLabel(ClaimName(t, set, last)); err != nil {
			return fmt.Errorf("claim name: %w", err)
		}
	}
	return nil
}
