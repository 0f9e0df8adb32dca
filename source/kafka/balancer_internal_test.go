package kafka

import (
	"fmt"
	"slices"
	"testing"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/spatedev/spate/checkpoint"
)

func groupMember(t *testing.T, id, instance string, tasks []int, topics ...string) kafkago.GroupMember {
	t.Helper()
	ud, err := (&taskBalancer{instance: instance, owned: func() []int { return tasks }}).UserData()
	if err != nil {
		t.Fatal(err)
	}
	return kafkago.GroupMember{ID: id, Topics: topics, UserData: ud}
}

func partitionsOf(counts map[string]int) []kafkago.Partition {
	var ps []kafkago.Partition
	for topic, n := range counts {
		for p := range n {
			ps = append(ps, kafkago.Partition{Topic: topic, ID: p})
		}
	}
	return ps
}

// instanceTasks returns, per instance, the tasks its members were given, and checks that
// every partition went to exactly one member that reads its topic and that each
// task's partitions went to one instance.
func instanceTasks(t *testing.T, members []kafkago.GroupMember, parts []kafkago.Partition, got kafkago.GroupMemberAssignments) map[string][]int {
	t.Helper()
	instance := map[string]string{}
	for _, m := range members {
		var ud taskUserData
		if err := checkpoint.Decode(m.UserData, &ud); err != nil {
			t.Fatal(err)
		}
		instance[m.ID] = ud.Instance
	}
	seen := map[TopicPartition]int{}
	owner := map[int]string{}
	out := map[string][]int{}
	for id, topics := range got {
		for topic, ps := range topics {
			m := members[slices.IndexFunc(members, func(m kafkago.GroupMember) bool { return m.ID == id })]
			if !slices.Contains(m.Topics, topic) {
				t.Errorf("member %s got %s, which it does not read", id, topic)
			}
			for _, p := range ps {
				seen[TopicPartition{topic, p}]++
				if o, ok := owner[p]; ok && o != instance[id] {
					t.Errorf("task %d split between instances %s and %s", p, o, instance[id])
				}
				owner[p] = instance[id]
				if !slices.Contains(out[instance[id]], p) {
					out[instance[id]] = append(out[instance[id]], p)
				}
			}
		}
	}
	for _, p := range parts {
		if n := seen[TopicPartition{p.Topic, p.ID}]; n != 1 {
			t.Errorf("partition %s/%d assigned %d times", p.Topic, p.ID, n)
		}
	}
	for _, ts := range out {
		slices.Sort(ts)
	}
	return out
}

func TestAssignTasks(t *testing.T) {
	two := partitionsOf(map[string]int{"in": 4, "rekeyed": 4})
	for _, tc := range []struct {
		name    string
		members func(t *testing.T) []kafkago.GroupMember
		parts   []kafkago.Partition
		want    string // the tasks of each instance
	}{
		{
			name: "fresh: balanced, and a task's topics together",
			members: func(t *testing.T) []kafkago.GroupMember {
				return []kafkago.GroupMember{
					groupMember(t, "a1", "A", nil, "in"), groupMember(t, "a2", "A", nil, "rekeyed"),
					groupMember(t, "b1", "B", nil, "in"), groupMember(t, "b2", "B", nil, "rekeyed")}
			},
			parts: two,
			want:  "map[A:[0 2] B:[1 3]]",
		},
		{
			name: "sticky: a joining instance takes only what it must",
			members: func(t *testing.T) []kafkago.GroupMember {
				return []kafkago.GroupMember{
					groupMember(t, "a", "A", []int{0, 2, 4}, "in"), groupMember(t, "b", "B", []int{1, 3, 5}, "in"),
					groupMember(t, "c", "C", nil, "in")}
			},
			parts: partitionsOf(map[string]int{"in": 6}),
			want:  "map[A:[0 2] B:[1 3] C:[4 5]]",
		},
		{
			name: "sticky: a leaving instance's tasks are spread",
			members: func(t *testing.T) []kafkago.GroupMember {
				return []kafkago.GroupMember{
					groupMember(t, "a", "A", []int{0, 3}, "in"), groupMember(t, "b", "B", []int{1, 4}, "in")}
			},
			parts: partitionsOf(map[string]int{"in": 6}), // C, which had 2 and 5, left
			want:  "map[A:[0 2 3] B:[1 4 5]]",
		},
		{
			name: "an instance that does not read a topic",
			members: func(t *testing.T) []kafkago.GroupMember {
				return []kafkago.GroupMember{
					groupMember(t, "a1", "A", nil, "in"), groupMember(t, "a2", "A", nil, "rekeyed"),
					groupMember(t, "b1", "B", nil, "in")}
			},
			parts: two,
			want:  "map[A:[0 1 2 3] B:[2 3]]",
		},
		{
			name: "two members of one instance on one topic share it",
			members: func(t *testing.T) []kafkago.GroupMember {
				return []kafkago.GroupMember{groupMember(t, "a1", "A", nil, "in"), groupMember(t, "a2", "A", nil, "in")}
			},
			parts: partitionsOf(map[string]int{"in": 4}),
			want:  "map[A:[0 1 2 3]]",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			members := tc.members(t)
			got := assignTasks(members, tc.parts)
			if tc.name == "an instance that does not read a topic" {
				// rekeyed/2 and rekeyed/3 belong to B's tasks, but B does not read
				// rekeyed: they go to A's reader of it instead of nowhere.
				if fmt.Sprint(got["a2"]) != "map[rekeyed:[0 1 2 3]]" {
					t.Errorf("a2 got %v", got["a2"])
				}
				return
			}
			if s := fmt.Sprint(instanceTasks(t, members, tc.parts, got)); s != tc.want {
				t.Errorf("tasks %s, want %s (assignment %v)", s, tc.want, got)
			}
			if tc.name == "two members of one instance on one topic share it" && (len(got["a1"]["in"]) != 2 || len(got["a2"]["in"]) != 2) {
				t.Errorf("members of one instance on one topic: %v", got)
			}
		})
	}
}
