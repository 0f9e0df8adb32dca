package rdd

// The profiler labels every task runs under (runtime/pprof.Do), so that a CPU
// profile of a running job splits by operator and partition:
//
//	go tool pprof -tagfocus operator=rdd.ReduceByKey cpu.out
//	go tool pprof -tags cpu.out
//
// A label already on the action's context (as dstream sets [LabelOperator] to
// the output operation and adds the batch) stays, unless a task's own replaces
// it.
const (
	// LabelOperator is the label that names a task's stage: a shuffle's map
	// side by its wide operator ("rdd.ReduceByKey", which covers the narrow
	// operators before it, fused into its tasks), the result stage by the
	// operator label of the action's context if it has one (dstream: the output
	// operation, e.g. "dstream.ForeachRDD"), else by the action ("rdd.Collect").
	LabelOperator = "operator"
	// LabelPartition is the label that holds a task's partition index, in
	// decimal.
	LabelPartition = "partition"
)
