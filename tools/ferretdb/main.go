// Command ferretdb runs FerretDB v1 embedded, with its SQLite backend (default) or its
// PostgreSQL backend (--handler=postgresql), as a real MongoDB wire-protocol server for
// local development and tests where no mongod binary can be installed. FerretDB's own cmd/ferretdb panics at start-up when
// built with `go install` (its build/version package needs a generated file);
// embedding the library through its public ferretdb package avoids that.
// scripts/install-deps.sh builds it with the fixes in patches/ applied to FerretDB's source.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // --debug-addr: FerretDB's own binary serves pprof there too
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	handler := flag.String("handler", "sqlite", "backend: sqlite or postgresql")
	dataDir := flag.String("data-dir", "", "directory for the SQLite databases (required with --handler=sqlite)")
	pgURL := flag.String("postgresql-url", "", "PostgreSQL URL (required with --handler=postgresql), e.g. postgres://user@127.0.0.1:5432/postgres")
	debugAddr := flag.String("debug-addr", "", "if set, serve net/http/pprof on this address (e.g. 127.0.0.1:8088) for profiling")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error")
	// MongoDB 7's default write concern (w:1, j unset) acknowledges a write before its journal is
	// flushed (every 100 ms): a mongod crash loses nothing, a power cut may lose the last moments.
	// SQLite's WAL mode with synchronous=NORMAL is that same trade; FULL (SQLite's default) adds
	// an fsync to every acknowledged write, which made small writes 2-3x slower than MongoDB's.
	synchronous := flag.String("synchronous", "normal", "SQLite synchronous mode: normal (like MongoDB's default journaling) or full")
	flag.Parse()

	config := &ferretdb.Config{Listener: ferretdb.ListenerConfig{TCP: *listen}, Handler: *handler}
	switch *handler {
	case "sqlite":
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
		config.SQLiteURL = "file:" + abs + "/?_pragma=synchronous(" + *synchronous + ")"
	case "postgresql":
		// Durability is PostgreSQL's own setting (synchronous_commit), chosen by whoever starts it.
		if *pgURL == "" {
			fmt.Fprintln(os.Stderr, "ferretdb: --postgresql-url is required with --handler=postgresql")
			os.Exit(2)
		}
		config.PostgreSQLURL = *pgURL
	default:
		fmt.Fprintln(os.Stderr, "ferretdb: --handler must be sqlite or postgresql")
		os.Exit(2)
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: --log-level: %v\n", err)
		os.Exit(2)
	}
	config.Logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if *debugAddr != "" {
		l, err := net.Listen("tcp", *debugAddr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "ferretdb: --debug-addr: %v\n", err)
			os.Exit(1)
		}
		go func() { _ = http.Serve(l, nil) }() // http.DefaultServeMux, where net/http/pprof registers
	}

	f, err := ferretdb.New(config)
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
