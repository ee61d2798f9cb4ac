package main

// runnel groups: Kafka's kafka-consumer-groups.sh as subcommands, with its
// flags and output tables.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

func groupsCommand() *cobra.Command {
	var bootstrap string
	cmd := &cobra.Command{
		Use:   "groups",
		Short: "List, describe, delete consumer groups and reset their offsets (kafka-consumer-groups.sh)",
		Long: `Manage consumer groups as Kafka's kafka-consumer-groups.sh does, with its
flag names. The action is a subcommand (runnel groups describe ...) or, as in
kafka-consumer-groups.sh, a flag (runnel groups --describe ...).`,
		Example: `  runnel groups list
  runnel groups describe --group billing
  runnel groups reset-offsets --group billing --topic test --to-earliest --execute
  runnel groups delete --group billing
  runnel groups --describe --group billing --bootstrap-server localhost:9092`,
	}
	addBootstrapFlag(cmd, &bootstrap)
	cmd.SetFlagErrorFunc(flagErrorHint)
	cmd.AddCommand(groupsListCommand(&bootstrap), groupsDescribeCommand(&bootstrap),
		groupsDeleteCommand(&bootstrap), groupsResetOffsetsCommand(&bootstrap))
	acceptKafkaActions(cmd)
	return cmd
}

func groupsListCommand(bootstrap *string) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List consumer group ids, one a line",
		Example: `  runnel groups list`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, ctx, done, err := openAdmin(cmd, *bootstrap)
			if err != nil {
				return err
			}
			defer done()
			groups, err := adm.ListGroups(ctx)
			if err != nil {
				return err
			}
			for _, g := range groups.Groups() {
				fmt.Fprintln(cmd.OutOrStdout(), g)
			}
			return nil
		},
	}
}

func groupsDescribeCommand(bootstrap *string) *cobra.Command {
	var (
		groups    []string
		allGroups bool
	)
	cmd := &cobra.Command{
		Use:   "describe --group ID",
		Short: "Show each partition's committed offset, log end offset, lag and consumer",
		Long: `Describe consumer groups as kafka-consumer-groups.sh --describe does: a
table of the partitions the group consumes or has committed, with the
committed offset, the log end offset, the lag between them, and the member
consuming the partition ("-" when none, or no commit yet).`,
		Example: `  runnel groups describe --group billing
  runnel groups describe --all-groups`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(groups) == 0 && !allGroups {
				return errors.New("give --group or --all-groups")
			}
			adm, ctx, done, err := openAdmin(cmd, *bootstrap)
			if err != nil {
				return err
			}
			defer done()
			if allGroups {
				listed, err := adm.ListGroups(ctx)
				if err != nil {
					return err
				}
				groups = listed.Groups()
			}
			lags, err := adm.Lag(ctx, groups...)
			if err != nil {
				return err
			}
			var errs []error
			for _, g := range groups {
				l, ok := lags[g]
				switch {
				case !ok || l.State == "Dead":
					errs = append(errs, fmt.Errorf("consumer group %q does not exist", g))
				case l.Error() != nil:
					errs = append(errs, fmt.Errorf("describe consumer group %q: %w", g, l.Error()))
				default:
					printGroupLag(cmd.OutOrStdout(), l)
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().StringArrayVar(&groups, "group", nil, "group to describe, repeatable")
	cmd.Flags().BoolVar(&allGroups, "all-groups", false, "describe every group")
	cmd.MarkFlagsMutuallyExclusive("group", "all-groups")
	return cmd
}

// printGroupLag prints kafka-consumer-groups.sh's offsets table of one group.
func printGroupLag(w io.Writer, l kadm.DescribedGroupLag) {
	switch {
	case l.State == "Empty" || len(l.Members) == 0:
		fmt.Fprintf(w, "\nConsumer group '%s' has no active members.\n", l.Group)
	case strings.Contains(l.State, "Rebalance"):
		fmt.Fprintf(w, "\nWarning: Consumer group '%s' is rebalancing.\n", l.Group)
	}
	rows := [][]string{{"GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"}}
	for _, m := range l.Lag.Sorted() {
		current, end, lag := "-", "-", "-"
		if m.Commit.At >= 0 {
			current = strconv.FormatInt(m.Commit.At, 10)
			if m.Err == nil {
				lag = strconv.FormatInt(m.Lag, 10)
			}
		}
		if m.End.Err == nil {
			end = strconv.FormatInt(m.End.Offset, 10)
		}
		member, host, client := "-", "-", "-"
		if m.Member != nil {
			member, host, client = m.Member.MemberID, m.Member.ClientHost, m.Member.ClientID
		}
		rows = append(rows, []string{l.Group, m.Topic, strconv.Itoa(int(m.Partition)), current, end, lag, member, host, client})
	}
	fmt.Fprintln(w)
	printTable(w, rows, []int{15, 15, 10, 15, 15, 15, 15, 15, 0})
}

// printTable prints rows in left-aligned columns separated by a space, each
// at least minWidth wide (and as wide as its widest cell); the last column
// is not padded.
func printTable(w io.Writer, rows [][]string, minWidth []int) {
	widths := slices.Clone(minWidth)
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			if i == len(r)-1 {
				b.WriteString(c)
				break
			}
			fmt.Fprintf(&b, "%-*s ", widths[i], c)
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

func groupsDeleteCommand(bootstrap *string) *cobra.Command {
	var groups []string
	cmd := &cobra.Command{
		Use:   "delete --group ID",
		Short: "Delete consumer groups (they must have no active members)",
		Example: `  runnel groups delete --group billing
  runnel groups delete --group a --group b`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, ctx, done, err := openAdmin(cmd, *bootstrap)
			if err != nil {
				return err
			}
			defer done()
			resps, err := adm.DeleteGroups(ctx, groups...)
			if err != nil {
				return err
			}
			var failed []string
			for _, r := range resps.Sorted() {
				if err := itemError(r.Err, r.ErrMessage); err != nil {
					failed = append(failed, fmt.Sprintf("* Group '%s' could not be deleted due to: %v", r.Group, err))
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("deletion of some consumer groups failed:\n%s", strings.Join(failed, "\n"))
			}
			quoted := make([]string, len(groups))
			for i, g := range groups {
				quoted[i] = "'" + g + "'"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deletion of requested consumer groups (%s) was successful.\n", strings.Join(quoted, ", "))
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&groups, "group", nil, "group to delete, repeatable")
	cmd.MarkFlagRequired("group")
	return cmd
}

func groupsResetOffsetsCommand(bootstrap *string) *cobra.Command {
	var (
		group      string
		topics     []string
		allTopics  bool
		toEarliest bool
		toLatest   bool
		toOffset   int64
		toDatetime string
		dryRun     bool
		execute    bool
	)
	cmd := &cobra.Command{
		Use:   "reset-offsets --group ID (--topic T[:P,...] | --all-topics) (--to-earliest | --to-latest | --to-offset N | --to-datetime TIME) [--execute]",
		Short: "Move a group's committed offsets (a dry run unless --execute)",
		Long: `Reset the committed offsets of a consumer group that has no active members,
as kafka-consumer-groups.sh --reset-offsets does. Without --execute it only
prints the offsets it would commit (--dry-run, the default).

--topic names a topic (all its partitions) or topic:0,2 (some); repeatable.
--all-topics takes every partition the group has committed.
--to-offset is kept within each partition's log start and end offsets.
--to-datetime takes the first record at or after the time, given as
YYYY-MM-DDTHH:mm:SS[.sss] with an optional zone (Z or +01:00; local time
without one); partitions with no such record go to their end.`,
		Example: `  runnel groups reset-offsets --group billing --topic test --to-earliest
  runnel groups reset-offsets --group billing --topic test:0 --to-offset 42 --execute
  runnel groups reset-offsets --group billing --all-topics --to-datetime 2026-11-25T12:00:00.000Z --execute`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var at time.Time
			if toDatetime != "" {
				var err error
				if at, err = parseDatetime(toDatetime); err != nil {
					return err
				}
			}
			if !execute && !dryRun {
				fmt.Fprintln(cmd.ErrOrStderr(), "WARN: No action will be performed as the --execute option is missing. Add --dry-run to say so explicitly.")
			}
			adm, ctx, done, err := openAdmin(cmd, *bootstrap)
			if err != nil {
				return err
			}
			defer done()

			described, err := adm.DescribeGroups(ctx, group)
			if err != nil {
				return err
			}
			if d, ok := described[group]; ok {
				if d.Err != nil {
					return fmt.Errorf("describe consumer group %q: %w", group, d.Err)
				}
				if d.State != "Empty" && d.State != "Dead" {
					return fmt.Errorf("assignments can only be reset if the group '%s' is inactive, but the current state is %s", group, d.State)
				}
			}
			partitions, err := resetScope(ctx, adm, group, topics)
			if err != nil {
				return err
			}
			var target func(topic string, partition int32) (int64, error)
			switch {
			case toEarliest, toLatest:
				list := adm.ListStartOffsets
				if toLatest {
					list = adm.ListEndOffsets
				}
				listed, err := list(ctx, partitions.Topics()...)
				if err != nil {
					return err
				}
				target = func(t string, p int32) (int64, error) { return lookupOffset(listed, t, p) }
			case toDatetime != "":
				listed, err := adm.ListOffsetsAfterMilli(ctx, at.UnixMilli(), partitions.Topics()...)
				if err != nil {
					return err
				}
				target = func(t string, p int32) (int64, error) { return lookupOffset(listed, t, p) }
			default:
				starts, err := adm.ListStartOffsets(ctx, partitions.Topics()...)
				if err != nil {
					return err
				}
				ends, err := adm.ListEndOffsets(ctx, partitions.Topics()...)
				if err != nil {
					return err
				}
				target = func(t string, p int32) (int64, error) {
					start, err := lookupOffset(starts, t, p)
					if err != nil {
						return 0, err
					}
					end, err := lookupOffset(ends, t, p)
					return min(max(toOffset, start), end), err
				}
			}
			offsets := make(kadm.Offsets)
			rows := [][]string{{"GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"}}
			for _, tp := range partitions.Sorted() {
				for _, p := range tp.Partitions {
					o, err := target(tp.Topic, p)
					if err != nil {
						return err
					}
					offsets.Add(kadm.Offset{Topic: tp.Topic, Partition: p, At: o, LeaderEpoch: -1})
					rows = append(rows, []string{group, tp.Topic, strconv.Itoa(int(p)), strconv.FormatInt(o, 10)})
				}
			}
			if execute {
				resps, err := adm.CommitOffsets(ctx, group, offsets)
				if err == nil {
					err = resps.Error()
				}
				if err != nil {
					return fmt.Errorf("commit offsets of group %q: %w", group, err)
				}
			}
			fmt.Fprintln(cmd.OutOrStdout())
			printTable(cmd.OutOrStdout(), rows, []int{30, 30, 10, 0})
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&group, "group", "", "group whose offsets to reset")
	f.StringArrayVar(&topics, "topic", nil, "topic or topic:partition,partition to reset, repeatable")
	f.BoolVar(&allTopics, "all-topics", false, "reset every partition the group has committed")
	f.BoolVar(&toEarliest, "to-earliest", false, "to each partition's log start offset")
	f.BoolVar(&toLatest, "to-latest", false, "to each partition's log end offset")
	f.Int64Var(&toOffset, "to-offset", 0, "to this offset")
	f.StringVar(&toDatetime, "to-datetime", "", "to the first record at or after this time")
	f.BoolVar(&dryRun, "dry-run", false, "only print the new offsets (the default)")
	f.BoolVar(&execute, "execute", false, "commit the new offsets")
	cmd.MarkFlagRequired("group")
	cmd.MarkFlagsOneRequired("topic", "all-topics")
	cmd.MarkFlagsMutuallyExclusive("topic", "all-topics")
	cmd.MarkFlagsOneRequired("to-earliest", "to-latest", "to-offset", "to-datetime")
	cmd.MarkFlagsMutuallyExclusive("to-earliest", "to-latest", "to-offset", "to-datetime")
	cmd.MarkFlagsMutuallyExclusive("dry-run", "execute")
	return cmd
}

// resetScope is the set of partitions reset-offsets acts on: those named by
// --topic, or (none named: --all-topics) those the group has committed.
func resetScope(ctx context.Context, adm *kadm.Client, group string, topics []string) (kadm.TopicsSet, error) {
	set := make(kadm.TopicsSet)
	if len(topics) == 0 {
		committed, err := adm.FetchOffsets(ctx, group)
		if err == nil {
			err = committed.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("fetch offsets of group %q: %w", group, err)
		}
		for t, ps := range committed {
			for p := range ps {
				set.Add(t, p)
			}
		}
		if len(set) == 0 {
			return nil, fmt.Errorf("consumer group %q has no committed offsets", group)
		}
		return set, nil
	}
	for _, spec := range topics {
		topic, list, hasList := strings.Cut(spec, ":")
		n, err := topicPartitions(ctx, adm, topic)
		if err != nil {
			return nil, err
		}
		if !hasList {
			for p := range n {
				set.Add(topic, int32(p))
			}
			continue
		}
		for s := range strings.SplitSeq(list, ",") {
			p, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
			if err != nil || p < 0 || int(p) >= n {
				return nil, fmt.Errorf("--topic %s: %q is not a partition of %s (it has %d)", spec, s, topic, n)
			}
			set.Add(topic, int32(p))
		}
	}
	return set, nil
}

func lookupOffset(l kadm.ListedOffsets, topic string, partition int32) (int64, error) {
	o, ok := l.Lookup(topic, partition)
	switch {
	case !ok:
		return 0, fmt.Errorf("no offset listed for %s partition %d", topic, partition)
	case o.Err != nil:
		return 0, fmt.Errorf("list offsets of %s partition %d: %w", topic, partition, o.Err)
	}
	return o.Offset, nil
}

// parseDatetime parses --to-datetime: Kafka's yyyy-MM-ddTHH:mm:ss.SSS with
// optional milliseconds and zone; local time without a zone.
func parseDatetime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05.999Z07:00", "2006-01-02T15:04:05.999"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--to-datetime %q: want YYYY-MM-DDTHH:mm:SS[.sss][Z|+hh:mm]", s)
}
