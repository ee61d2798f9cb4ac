package main

// runnel topics elect-leaders: Kafka's kafka-leader-election.sh.

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func topicsElectLeadersCommand(bootstrap *string) *cobra.Command {
	var (
		electionType string
		topic        string
		partition    int32
		all          bool
	)
	cmd := &cobra.Command{
		Use:   "elect-leaders --election-type preferred|unclean (--topic NAME [--partition N] | --all-topic-partitions)",
		Short: "Run preferred or unclean leader elections (kafka-leader-election.sh)",
		Long: `Ask the controller to elect partition leaders, as kafka-leader-election.sh
does, and print its summary lines. A preferred election gives each partition
its first replica as leader when that replica is in the ISR; an unclean one
gives a partition without a leader its first live replica even outside the
ISR (records it lacks are lost). --topic without --partition elects every
partition of the topic; --all-topic-partitions every partition of every
topic, and then partitions that need no election are not listed. Exits
non-zero when a partition could not be elected.`,
		Example: `  runnel topics elect-leaders --election-type preferred --all-topic-partitions
  runnel topics elect-leaders --election-type unclean --topic orders --partition 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var how kadm.ElectLeadersHow
			switch strings.ToLower(electionType) {
			case "preferred":
				how = kadm.ElectPreferredReplica
			case "unclean":
				how = kadm.ElectLiveReplica
			default:
				return fmt.Errorf("--election-type must be preferred or unclean, not %q", electionType)
			}
			if all == (topic != "") {
				return errors.New("give one of --topic and --all-topic-partitions")
			}
			adm, ctx, done, err := openAdmin(cmd, *bootstrap)
			if err != nil {
				return err
			}
			defer done()
			var set kadm.TopicsSet // nil: every partition
			if topic != "" {
				set = kadm.TopicsSet{}
				if cmd.Flags().Changed("partition") {
					set.Add(topic, partition)
				} else {
					md, err := adm.Metadata(ctx, topic)
					if err != nil {
						return err
					}
					td := md.Topics[topic]
					if err := itemError(td.Err, ""); err != nil {
						return fmt.Errorf("topic %q: %w", topic, err)
					}
					set.Add(topic, td.Partitions.Numbers()...)
				}
			}
			results, err := adm.ElectLeaders(ctx, how, set)
			if err != nil {
				return err
			}
			return printElections(cmd, how, results)
		},
	}
	f := cmd.Flags()
	f.StringVar(&electionType, "election-type", "", "preferred or unclean")
	f.StringVar(&topic, "topic", "", "the topic whose partitions to elect leaders for")
	f.Int32Var(&partition, "partition", 0, "the partition of --topic (default: every partition)")
	f.BoolVar(&all, "all-topic-partitions", false, "every partition of every topic")
	cmd.MarkFlagRequired("election-type")
	return cmd
}

// printElections prints an ElectLeaders answer as kafka-leader-election.sh
// does: the partitions elected, those already led by a valid replica, then
// an error line per partition that failed, in partition order.
func printElections(cmd *cobra.Command, how kadm.ElectLeadersHow, results kadm.ElectLeadersResults) error {
	kind := "PREFERRED"
	if how == kadm.ElectLiveReplica {
		kind = "UNCLEAN"
	}
	var elected, noop, failed []kadm.ElectLeadersResult
	for _, partitions := range results {
		for _, r := range partitions {
			switch {
			case r.Err == nil:
				elected = append(elected, r)
			case errors.Is(r.Err, kerr.ElectionNotNeeded):
				noop = append(noop, r)
			default:
				failed = append(failed, r)
			}
		}
	}
	byPartition := func(a, b kadm.ElectLeadersResult) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition) - int(b.Partition)
	}
	names := func(rs []kadm.ElectLeadersResult) string {
		slices.SortFunc(rs, byPartition)
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = fmt.Sprintf("%s-%d", r.Topic, r.Partition)
		}
		return strings.Join(out, ", ")
	}
	w := cmd.OutOrStdout()
	if len(elected) > 0 {
		fmt.Fprintf(w, "Successfully completed leader election (%s) for partitions %s\n", kind, names(elected))
	}
	if len(noop) > 0 {
		fmt.Fprintf(w, "Valid replica already elected for partitions %s\n", names(noop))
	}
	if len(failed) == 0 {
		return nil
	}
	slices.SortFunc(failed, byPartition)
	for _, r := range failed {
		fmt.Fprintf(w, "Error completing leader election (%s) for partition: %s-%d: %v\n", kind, r.Topic, r.Partition, itemError(r.Err, r.ErrMessage))
	}
	return fmt.Errorf("%d replica(s) could not be elected", len(failed))
}
