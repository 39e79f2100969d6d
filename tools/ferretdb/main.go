// Command ferretdb runs FerretDB v1 embedded, with its SQLite backend, as a real
// MongoDB wire-protocol server for local development and tests where no mongod
// binary can be installed. FerretDB's own cmd/ferretdb panics at start-up when
// built with `go install` (its build/version package needs a generated file);
// embedding the library through its public ferretdb package avoids that.
// scripts/install-deps.sh builds it with the fixes in patches/ applied to FerretDB's source.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	dataDir := flag.String("data-dir", "", "directory for the SQLite databases (required)")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error")
	// MongoDB 7's default write concern (w:1, j unset) acknowledges a write before its journal is
	// flushed (every 100 ms): a mongod crash loses nothing, a power cut may lose the last moments.
	// SQLite's WAL mode with synchronous=NORMAL is that same trade; FULL (SQLite's default) adds
	// an fsync to every acknowledged write, which made small writes 2-3x slower than MongoDB's.
	synchronous := flag.String("synchronous", "normal", "SQLite synchronous mode: normal (like MongoDB's default journaling) or full")
	flag.Parse()

	if *dataDir == "" {
		fmt.Fprintln(os.Stderr, "ferretdb: --data-dir is required")
		os.Exit(2)
	}
	abs, err := filepath.Abs(*dataDir)
	if err == nil {
		err = os.MkdirAll(abs, 0o700)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: data dir: %v\n", err)
		os.Exit(1)
	}

	if *synchronous != "normal" && *synchronous != "full" {
		fmt.Fprintln(os.Stderr, "ferretdb: --synchronous must be normal or full")
		os.Exit(2)
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: --log-level: %v\n", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/?_pragma=synchronous(" + *synchronous + ")",
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %v\n", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Printed once the listener is bound (ferretdb.New binds it): harnesses wait for this line.
	fmt.Fprintf(os.Stderr, "ferretdb: listening on %s\n", *listen)
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %v\n", err)
		os.Exit(1)
	}
}
