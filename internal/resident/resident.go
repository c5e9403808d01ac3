// Package resident lets a long-running process give back the pages of its
// own executable that only its start-up used.
//
// A Go binary's code and read-only data are mapped from its file. Each
// page fault maps not one page but the 64 KiB block around it (the
// kernel's fault-around), and start-up (package initialisation, flag
// parsing, the first lookups, the first script run) touches most blocks,
// so nearly the whole executable stays resident for the life of the
// process. DropExecutablePages unmaps those pages once; the ones the
// process uses again come back on their next access, the others stay out.
// The pages remain in the page cache, shared with every process that runs
// the same file and reclaimable by the kernel, so a container's memory as
// its cgroup counts it falls by less than its RSS does.
//
// Fault-around would still bring back whole 64 KiB blocks around the few
// pages a steady loop uses. It never reaches past the mapping (VMA) that
// faulted, so before dropping, DropExecutablePages makes every page a
// mapping of its own: it marks every other page MADV_DONTDUMP, a flag
// that changes nothing but core dumps (which leave out read-only file
// pages anyway), and adjacent mappings whose flags differ cannot merge.
// Each mapping costs the kernel about 200 bytes, so once the loop has run
// a few times, Merge clears the flag and the kernel merges them back into
// the original mappings: pages stay where they are, and what the process
// touches later faults in with fault-around again.
//
// Only mappings of the executable that are not writable and hold no
// private (anonymous) copy of a page are dropped: their contents are
// exactly the file's, so nothing is lost. Writable data and relocated
// read-only data (position-independent builds) are left alone.
//
// plan.go reads /proc/self/smaps into the list of mappings to drop and
// lists the pages to mark (pure functions); drop_linux.go reads the
// process's own files and calls madvise; drop_other.go does nothing on
// other systems.
package resident

// Drop is what DropExecutablePages did.
type Drop struct {
	// Bytes were resident in the dropped mappings before.
	Bytes uint64
	// Split is how many pages were marked to split the mappings until
	// Merge.
	Split int
	split []Mapping
}
