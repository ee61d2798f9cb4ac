package main

// runnel log-dirs: Kafka's kafka-log-dirs.sh, with its flags (--describe
// as a flag or as the subcommand, --topic-list, --broker-list) and its
// output: two progress lines, then one JSON line of every broker's log
// dirs, with their errors and partitions (size, offset lag, future or
// not), keys in the order Kafka's tool prints them.

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
)

func logDirsCommand() *cobra.Command {
	var (
		bootstrap, topicList, brokerList string
		describe                         bool
	)
	run := func(cmd *cobra.Command, _ []string) error {
		return describeLogDirs(cmd, bootstrap, topicList, brokerList)
	}
	cmd := &cobra.Command{
		Use:   "log-dirs",
		Short: "Describe the brokers' log directories: partitions and their sizes (kafka-log-dirs.sh)",
		Long: `Query brokers for their log directories (DescribeLogDirs) and print what
kafka-log-dirs.sh --describe prints: for each broker and log directory, its
error (null, or the Kafka exception of a failed directory) and its partitions
with their size in bytes. Kafka's flag form, --describe, works too.`,
		Example: `  runnel log-dirs describe
  runnel log-dirs describe --topic-list orders,audit --broker-list 1
  runnel log-dirs --describe --bootstrap-server localhost:9092`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if describe && len(args) == 0 {
				return run(cmd, args)
			}
			return requireSubcommand(cmd, args)
		},
	}
	addBootstrapFlag(cmd, &bootstrap)
	pf := cmd.PersistentFlags()
	pf.StringVar(&topicList, "topic-list", "", `topics to show, "topic1,topic2" (default: all)`)
	pf.StringVar(&brokerList, "broker-list", "", `brokers to query, "0,1,2" (default: every broker of the cluster)`)
	cmd.Flags().BoolVar(&describe, "describe", false, "describe the log directories (as the describe subcommand)")
	cmd.SetFlagErrorFunc(flagErrorHint)
	cmd.AddCommand(&cobra.Command{
		Use:     "describe",
		Short:   "Describe the log directories of the brokers",
		Example: `  runnel log-dirs describe --topic-list orders`,
		Args:    cobra.NoArgs,
		RunE:    run,
	})
	return cmd
}

// Kafka's tool prints this JSON (LogDirsCommand.formatAsJson): maps in
// Java's HashMap order, which these structs' field order reproduces.
type (
	logDirsJSON struct {
		Brokers []brokerLogDirsJSON `json:"brokers"`
		Version int                 `json:"version"`
	}
	brokerLogDirsJSON struct {
		Broker  int32        `json:"broker"`
		LogDirs []logDirJSON `json:"logDirs"`
	}
	logDirJSON struct {
		Partitions []logDirPartitionJSON `json:"partitions"`
		Error      *string               `json:"error"`
		LogDir     string                `json:"logDir"`
	}
	logDirPartitionJSON struct {
		Partition string `json:"partition"` // "topic-partition"
		Size      int64  `json:"size"`
		OffsetLag int64  `json:"offsetLag"`
		IsFuture  bool   `json:"isFuture"`
	}
)

// describeLogDirs is kafka-log-dirs.sh --describe: it checks --broker-list
// against the cluster's brokers, describes every partition of each broker's
// log dirs and keeps those of --topic-list.
func describeLogDirs(cmd *cobra.Command, bootstrap, topicList, brokerList string) error {
	topics := map[string]bool{}
	for t := range strings.SplitSeq(topicList, ",") {
		if t = strings.TrimSpace(t); t != "" {
			topics[t] = true
		}
	}
	var brokers []int32
	for s := range strings.SplitSeq(brokerList, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		id, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return fmt.Errorf("--broker-list %q: want broker ids, as in 0,1,2", brokerList)
		}
		brokers = append(brokers, int32(id))
	}
	adm, ctx, done, err := openAdmin(cmd, bootstrap)
	if err != nil {
		return err
	}
	defer done()
	cluster, err := adm.ListBrokers(ctx)
	if err != nil {
		return err
	}
	ids := cluster.NodeIDs()
	slices.Sort(ids)
	var missing []int32
	for _, id := range brokers {
		if !slices.Contains(ids, id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the given brokers do not exist from --broker-list: %s. Current existent brokers: %s", joinIDs(missing), joinIDs(ids))
	}
	if len(brokers) > 0 {
		slices.Sort(brokers)
		ids = slices.Compact(brokers)
	}

	out := cmd.OutOrStdout()
	fmt.Fprintln(out, "Querying brokers for log directories information")
	doc := logDirsJSON{Brokers: []brokerLogDirsJSON{}, Version: 1}
	for _, id := range ids {
		dirs, err := adm.DescribeBrokerLogDirs(ctx, id, nil)
		if err != nil {
			return fmt.Errorf("describe log dirs of broker %d: %w", id, err)
		}
		b := brokerLogDirsJSON{Broker: id, LogDirs: []logDirJSON{}}
		for _, d := range dirs.Sorted() {
			ld := logDirJSON{Partitions: []logDirPartitionJSON{}, Error: exceptionName(d.Err), LogDir: d.Dir}
			for _, p := range d.Topics.Sorted() {
				if len(topics) == 0 || topics[p.Topic] {
					ld.Partitions = append(ld.Partitions, logDirPartitionJSON{
						Partition: p.Topic + "-" + strconv.Itoa(int(p.Partition)),
						Size:      p.Size, OffsetLag: p.OffsetLag, IsFuture: p.IsFuture})
				}
			}
			b.LogDirs = append(b.LogDirs, ld)
		}
		doc.Brokers = append(doc.Brokers, b)
	}
	fmt.Fprintf(out, "Received log directory information from brokers %s\n", joinIDs(ids))
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false) // as Jackson writes them
	return enc.Encode(doc)
}

// exceptionName is what Kafka's tool prints for a log dir's error: nil, or
// the Java exception class of the Kafka error (the error's name for codes
// a log dir does not get from a Kafka broker).
func exceptionName(err error) *string {
	if err == nil {
		return nil
	}
	name := err.Error()
	var ke *kerr.Error
	if errors.As(err, &ke) {
		name = ke.Message
		switch ke {
		case kerr.KafkaStorageError:
			name = "org.apache.kafka.common.errors.KafkaStorageException"
		case kerr.UnknownServerError:
			name = "org.apache.kafka.common.errors.UnknownServerException"
		}
	}
	return &name
}

func joinIDs(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}
