// Command runnel is the Runnel broker and its tools.
//
//	runnel serve --config server.properties --override log.dirs=/data
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "runnel",
		Short:         "Runnel, a Kafka-compatible broker",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCommand(), loadgenCommand(), benchCommand())
	root.AddCommand(topicsCommand(), produceCommand(), consumeCommand(), groupsCommand(), dumpLogCommand())
	root.AddCommand(logDirsCommand(), clusterCommand(), metadataQuorumCommand())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "runnel:", err)
		os.Exit(1)
	}
}
