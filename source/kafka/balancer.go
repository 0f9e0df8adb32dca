package kafka

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"runtime"
	"slices"
	"sync"
	"weak"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/spatedev/spate/checkpoint"
	"github.com/spatedev/spate/dstream"
)

// taskProtocol is the name of the direct stream's group protocol.
const taskProtocol = "spate-tasks"

// taskBalancer assigns a consumer group's partitions by task, the way Kafka Streams'
// assignor does: a task is a partition number, and every partition of a task — of
// each topic the group reads — goes to one instance (a Context: its members, one per
// direct stream, say which instance they belong to in their user data), so a keyed
// stream's tasks and their state stay together across streams and topics. It is
// sticky: a task stays with the instance that read it in the last generation (each
// member lists its tasks in its user data), unless the instances' task counts would
// then differ by more than one; the tasks that must move, and new ones, go to the
// instances with the fewest. An instance whose members do not read a topic cannot
// take that topic's partitions: they go to the least loaded member that reads it.
//
// kafka-go's own balancers (range, round robin) are offered after it, so a group
// whose other members do not speak "spate-tasks" still forms.
type taskBalancer struct {
	instance string
	owned    func() []int // the tasks the member reads now
}

// taskUserData is what a member tells the group's leader.
type taskUserData struct {
	Version  int    `msgpack:"v"`
	Instance string `msgpack:"i"`
	Tasks    []int  `msgpack:"t"`
}

func (b *taskBalancer) ProtocolName() string { return taskProtocol }

func (b *taskBalancer) UserData() ([]byte, error) {
	return checkpoint.Encode(taskUserData{Version: 1, Instance: b.instance, Tasks: b.owned()})
}

// AssignGroups is run by the group's leader.
func (b *taskBalancer) AssignGroups(members []kafkago.GroupMember, partitions []kafkago.Partition) kafkago.GroupMemberAssignments {
	return assignTasks(members, partitions)
}

// assignTasks assigns every partition that a member reads to one member, by task.
func assignTasks(members []kafkago.GroupMember, partitions []kafkago.Partition) kafkago.GroupMemberAssignments {
	out := kafkago.GroupMemberAssignments{}
	if len(members) == 0 {
		return out
	}
	members = slices.Clone(members)
	slices.SortFunc(members, func(a, b kafkago.GroupMember) int { return cmp.Compare(a.ID, b.ID) })
	// The instances, and the tasks each had.
	instanceOf := map[string]string{} // member → instance
	had := map[string][]int{}         // instance → tasks it read
	var instances []string
	for _, m := range members {
		out[m.ID] = map[string][]int{}
		var ud taskUserData
		if checkpoint.Decode(m.UserData, &ud) != nil || ud.Instance == "" {
			ud = taskUserData{Instance: "member:" + m.ID} // an instance of its own, with no history
		}
		instanceOf[m.ID] = ud.Instance
		if _, ok := had[ud.Instance]; !ok {
			instances = append(instances, ud.Instance)
		}
		had[ud.Instance] = append(had[ud.Instance], ud.Tasks...)
	}
	slices.Sort(instances)
	var tasks []int
	for _, p := range partitions {
		tasks = append(tasks, p.ID)
	}
	slices.Sort(tasks)
	tasks = slices.Compact(tasks)

	// Quotas: every instance gets ⌊T/I⌋ tasks, and the T mod I that had the most
	// tasks get one more.
	byHistory := slices.Clone(instances)
	slices.SortStableFunc(byHistory, func(a, b string) int { return cmp.Compare(len(had[b]), len(had[a])) })
	quota := map[string]int{}
	for i, in := range byHistory {
		quota[in] = len(tasks) / len(instances)
		if i < len(tasks)%len(instances) {
			quota[in]++
		}
	}
	owner := map[int]string{}
	count := map[string]int{}
	for _, in := range instances { // sticky first
		for _, t := range had[in] {
			if _, taken := owner[t]; !taken && slices.Contains(tasks, t) && count[in] < quota[in] {
				owner[t] = in
				count[in]++
			}
		}
	}
	for _, t := range tasks { // then the least loaded
		if _, taken := owner[t]; taken {
			continue
		}
		best := ""
		for _, in := range instances {
			if count[in] < quota[in] && (best == "" || count[in] < count[best]) {
				best = in
			}
		}
		owner[t] = best
		count[best]++
	}

	// Each partition goes to a member of its task's instance that reads its topic
	// (spread over them by partition number), else to the least loaded member that
	// reads it.
	load := map[string]int{}
	for _, p := range partitions {
		var mine, readers []string
		for _, m := range members {
			if slices.Contains(m.Topics, p.Topic) {
				readers = append(readers, m.ID)
				if instanceOf[m.ID] == owner[p.ID] {
					mine = append(mine, m.ID)
				}
			}
		}
		var to string
		switch {
		case len(mine) > 0:
			to = mine[p.ID%len(mine)]
		case len(readers) > 0:
			to = slices.MinFunc(readers, func(a, b string) int { return cmp.Or(cmp.Compare(load[a], load[b]), cmp.Compare(a, b)) })
		default:
			continue // no member reads the topic
		}
		out[to][p.Topic] = append(out[to][p.Topic], p.ID)
		load[to]++
	}
	for _, a := range out {
		for _, ps := range a {
			slices.Sort(ps)
		}
	}
	return out
}

// instances holds each Context's instance id, under a weak pointer to the Context
// (an entry goes when its Context is collected): the members of a Context's direct
// streams tell the group they belong together.
var instances sync.Map // weak.Pointer[dstream.Context] → string

// instanceOf returns c's instance id, random, made on first use.
func instanceOf(c *dstream.Context) string {
	key := weak.Make(c)
	if id, ok := instances.Load(key); ok {
		return id.(string)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	id, loaded := instances.LoadOrStore(key, hex.EncodeToString(b))
	if !loaded {
		runtime.AddCleanup(c, func(k weak.Pointer[dstream.Context]) { instances.Delete(k) }, key)
	}
	return id.(string)
}
