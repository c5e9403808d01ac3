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
// Only mappings of the executable that are not writable and hold no
// private (anonymous) copy of a page are dropped: their contents are
// exactly the file's, so nothing is lost. Writable data and relocated
// read-only data (position-independent builds) are left alone.
//
// plan.go reads /proc/self/smaps into the list of mappings to drop (a pure
// function); drop_linux.go reads the process's own files and calls
// madvise; drop_other.go does nothing on other systems.
package resident
