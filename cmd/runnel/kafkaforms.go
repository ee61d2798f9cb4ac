package main

// Kafka's command forms. kafka-topics.sh and kafka-consumer-groups.sh take
// the action as a flag (kafka-topics.sh --create --topic t); runnel's
// command groups take it as a subcommand (runnel topics create --topic t).
// A command group given Kafka's form runs the subcommand, so Kafka's
// commands work with only the program's name changed:
//
//	runnel topics --create --topic quickstart-events --bootstrap-server localhost:9092
//	runnel groups --describe --group billing

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// acceptKafkaActions lets cmd, a command group, take one of its
// subcommands' names as a flag (--create for create). The group then
// parses no flags itself: it finds the action among its arguments and runs
// `<group> <action> <the other arguments>`, so the subcommand parses,
// checks and documents its flags as when it is called by name. It knows the
// subcommands' flags (hidden on the group), to tell a flag's value from a
// flag: a topic named --describe is a value.
func acceptKafkaActions(cmd *cobra.Command) {
	var actions []string
	for _, sub := range cmd.Commands() {
		actions = append(actions, sub.Name())
		cmd.Flags().Bool(sub.Name(), false, fmt.Sprintf("the %s subcommand, in Kafka's form", sub.Name()))
	}
	for _, sub := range cmd.Commands() {
		sub.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if cmd.Flags().Lookup(f.Name) == nil && cmd.PersistentFlags().Lookup(f.Name) == nil {
				hidden := *f
				hidden.Hidden = true
				cmd.Flags().AddFlag(&hidden)
			}
		})
	}
	cmd.DisableFlagParsing = true
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		action, rest, err := kafkaAction(cmd, actions, args)
		switch {
		case err != nil:
			return err
		case action == "help":
			return cmd.Help()
		case action == "":
			if len(args) > 0 && strings.HasPrefix(args[0], "-") {
				args = nil // flags, not a subcommand
			}
			return requireSubcommand(cmd, args)
		}
		root := cmd.Root()
		root.SetArgs(append([]string{cmd.Name(), action}, rest...))
		return root.Execute()
	}
}

// kafkaAction finds the action flag among a command group's arguments and
// returns it with the other arguments; "help" for -h or --help before any
// action, "" when there is no action.
func kafkaAction(cmd *cobra.Command, actions, args []string) (action string, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, isLong := strings.CutPrefix(arg, "--")
		switch {
		case isLong && slices.Contains(actions, name):
			if action != "" {
				return "", nil, fmt.Errorf("give one action, not both --%s and --%s\nRun '%s --help' for usage.", action, name, cmd.CommandPath())
			}
			action = name
			continue
		case (arg == "-h" || arg == "--help") && action == "":
			return "help", nil, nil
		}
		rest = append(rest, arg)
		// A flag that takes a value and is not given one with '=' takes
		// the next argument.
		if isLong && !strings.Contains(name, "=") && i+1 < len(args) {
			f := cmd.Flags().Lookup(name)
			if f == nil {
				f = cmd.PersistentFlags().Lookup(name)
			}
			if f != nil && f.NoOptDefVal == "" {
				i++
				rest = append(rest, args[i])
			}
		}
	}
	return action, rest, nil
}
