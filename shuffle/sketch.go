package shuffle

import (
	"math"
	"math/bits"
)

// sketchBits is log2 of a sketch's register count: 1024 registers give a
// standard error of about 3%.
const sketchBits = 10

// Sketch is a HyperLogLog estimate of the number of distinct keys, fed with
// the 64-bit hashes the hash partitioner computes anyway. The reduce side of
// an aggregating shuffle merges the sketches of its bucket from every map
// task to size its table once instead of growing it.
type Sketch struct {
	reg [1 << sketchBits]uint8
}

// Add records one hash.
func (s *Sketch) Add(h uint64) {
	i := h >> (64 - sketchBits)
	r := uint8(bits.LeadingZeros64(h<<sketchBits|1<<(sketchBits-1))) + 1
	if r > s.reg[i] {
		s.reg[i] = r
	}
}

// Merge adds o's hashes to s.
func (s *Sketch) Merge(o *Sketch) {
	for i, r := range o.reg {
		if r > s.reg[i] {
			s.reg[i] = r
		}
	}
}

// Estimate returns the estimated number of distinct hashes added.
func (s *Sketch) Estimate() int {
	const m = float64(len(s.reg))
	var sum float64
	zeros := 0
	for _, r := range s.reg {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	est := 0.7213 / (1 + 1.079/m) * m * m / sum
	if est <= 2.5*m && zeros > 0 {
		est = m * math.Log(m/float64(zeros)) // linear counting for small sets
	}
	return int(est + 0.5)
}
