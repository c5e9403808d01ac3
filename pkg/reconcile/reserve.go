package reconcile

import kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"

// Reserved ordinals.
//
// A reserved ordinal gets no pet, and the other pets keep their ordinals:
// spec.replicas counts the pets actually run, so the set's ordinals extend
// past the reserved ones. With start 0, replicas 3 and ordinal 1 reserved
// the pets are 0, 2 and 3. A pet on a reserved ordinal is condemned like
// one removed by a scale-down; its claims stay (Retain) unless
// whenScaled is Delete.

// reservedOrdinals returns the set's reserved ordinals (spec.reserveOrdinals).
func reservedOrdinals(set *kennelv1.PetSet) map[int]bool {
	if len(set.Spec.ReserveOrdinals) == 0 {
		return nil
	}
	out := make(map[int]bool, len(set.Spec.ReserveOrdinals))
	for _, n := range set.Spec.ReserveOrdinals {
		if n >= 0 {
			out[int(n)] = true
		}
	}
	return out
}

// petSlots returns, in ascending order, the ordinals that must run pets:
// replicas ordinals from start up, skipping reserved ones.
func petSlots(set *kennelv1.PetSet) []int {
	start, n := ordinalRange(set)
	reserved := reservedOrdinals(set)
	slots := make([]int, 0, n)
	for ord := start; len(slots) < n; ord++ {
		if !reserved[ord] {
			slots = append(slots, ord)
		}
	}
	return slots
}

// slotIndex maps each slot ordinal to its position.
func slotIndex(slots []int) map[int]int {
	idx := make(map[int]int, len(slots))
	for i, ord := range slots {
		idx[ord] = i
	}
	return idx
}
