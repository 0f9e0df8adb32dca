package shuffleexec

import (
	"math"
	"math/bits"
)

const (
	// sketchBits is log2 of a dense sketch's register count: 1024
	// registers give a standard error of about 3%.
	sketchBits = 10
	registers  = 1 << sketchBits
	// sparseMax is the most register updates a sparse sketch lists: at
	// 2 bytes each, as many bytes as the dense registers.
	sparseMax = registers / 2
)

// Sketch is a HyperLogLog estimate of the number of distinct keys, fed with
// the 64-bit hashes the hash partitioner computes anyway. The reduce side of
// an aggregating shuffle merges the sketches of its bucket from every map
// task to size its table once instead of growing it.
//
// A sketch is sized by what it holds: it starts sparse, as the list of its
// register updates (2 bytes per hash added), and takes its 1 KiB of
// registers only once that list would be larger. A map task keeps one
// sketch per output partition, so a bucket of a few keys costs a few bytes,
// not 1 KiB, and merging it costs its keys, not 1024 registers. The zero
// Sketch is empty and ready to use.
type Sketch struct {
	sparse []uint16 // register<<6 | rank, one per Add, while dense is nil
	dense  *[registers]uint8
}

// Add records one hash.
func (s *Sketch) Add(h uint64) { s.add(encode(h)) }

// encode returns the register update of hash h: the register index (its
// top sketchBits bits) above the rank of the rest (at most 55: 6 bits).
func encode(h uint64) uint16 {
	i := h >> (64 - sketchBits)
	r := bits.LeadingZeros64(h<<sketchBits|1<<(sketchBits-1)) + 1
	return uint16(i)<<6 | uint16(r)
}

// addAll adds codes[i] to sketches[dest[i]], where counts[q] is how many
// codes go to sketch q. The sparse lists of the sketches still empty share
// one allocation, sized exactly; a sketch that will hold more than
// sparseMax updates takes its registers at once.
func addAll(sketches []Sketch, dest []int32, codes []uint16, counts []int) {
	total := 0
	for q, c := range counts {
		if sk := &sketches[q]; c > sparseMax && sk.dense == nil {
			sk.densify()
		} else if sk.dense == nil && len(sk.sparse) == 0 {
			total += c
		}
	}
	backing := make([]uint16, total)
	for q, c := range counts {
		if sk := &sketches[q]; sk.dense == nil && len(sk.sparse) == 0 && c > 0 {
			sk.sparse, backing = backing[:0:c], backing[c:]
		}
	}
	for i, e := range codes {
		sketches[dest[i]].add(e)
	}
}

// add records one encoded register update.
func (s *Sketch) add(e uint16) {
	if s.dense == nil {
		if len(s.sparse) < sparseMax {
			s.sparse = append(s.sparse, e)
			return
		}
		s.densify()
	}
	if i, r := e>>6, uint8(e&63); r > s.dense[i] {
		s.dense[i] = r
	}
}

// densify turns a sparse sketch into its registers.
func (s *Sketch) densify() {
	s.dense = new([registers]uint8)
	for _, e := range s.sparse {
		if i, r := e>>6, uint8(e&63); r > s.dense[i] {
			s.dense[i] = r
		}
	}
	s.sparse = nil
}

// Merge adds o's hashes to s, at the cost of o's size: its list of updates
// while sparse, else its registers.
func (s *Sketch) Merge(o *Sketch) {
	if o.dense == nil {
		for _, e := range o.sparse {
			s.add(e)
		}
		return
	}
	if s.dense == nil {
		s.densify()
	}
	for i, r := range o.dense {
		if r > s.dense[i] {
			s.dense[i] = r
		}
	}
}

// Estimate returns the estimated number of distinct hashes added.
func (s *Sketch) Estimate() int {
	if s.dense != nil {
		return estimate(s.dense)
	}
	if len(s.sparse) == 0 {
		return 0
	}
	var reg [registers]uint8
	for _, e := range s.sparse {
		if i, r := e>>6, uint8(e&63); r > reg[i] {
			reg[i] = r
		}
	}
	return estimate(&reg)
}

// estimate returns the HyperLogLog estimate of the registers.
func estimate(reg *[registers]uint8) int {
	// Registers by rank: 2^-rank summed over the ranks present, not the
	// registers.
	var byRank [64]int
	for _, r := range reg {
		byRank[r]++
	}
	const m = float64(registers)
	var sum float64
	for r, n := range byRank {
		if n > 0 {
			sum += float64(n) * math.Ldexp(1, -r)
		}
	}
	est := 0.7213 / (1 + 1.079/m) * m * m / sum
	if zeros := byRank[0]; est <= 2.5*m && zeros > 0 {
		est = m * math.Log(m/float64(zeros)) // linear counting for small sets
	}
	return int(est + 0.5)
}

// Bytes returns the memory the sketch holds beyond the Sketch value
// itself: 2 bytes per update while sparse, else the 1024 registers.
func (s *Sketch) Bytes() int {
	if s.dense != nil {
		return registers
	}
	return 2 * len(s.sparse)
}
