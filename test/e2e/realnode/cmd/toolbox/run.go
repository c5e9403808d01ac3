package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"time"
)

// Run runs one toolbox command.
func Run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: toolbox get URL | lookup NAME | zk HOST:PORT CMD | sleep")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout(args[0]))
	defer cancel()
	switch {
	case args[0] == "get" && len(args) == 2:
		return get(ctx, args[1], out)
	case args[0] == "lookup" && len(args) == 2:
		addrs, err := net.DefaultResolver.LookupHost(ctx, args[1])
		if err != nil {
			return err
		}
		sort.Strings(addrs)
		for _, a := range addrs {
			fmt.Fprintln(out, a)
		}
		return nil
	case args[0] == "zk" && len(args) == 3:
		return fourLetter(ctx, args[1], args[2], out)
	case args[0] == "sleep" && len(args) == 1:
		<-ctx.Done()
		return nil
	}
	return fmt.Errorf("unknown command or wrong arguments: %q", args)
}

func timeout(cmd string) time.Duration {
	if cmd == "sleep" {
		return 365 * 24 * time.Hour
	}
	return 10 * time.Second
}

func get(ctx context.Context, url string, out io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	fmt.Fprintln(out, resp.Status)
	keys := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range resp.Header[k] {
			fmt.Fprintf(out, "%s: %s\n", k, v)
		}
	}
	fmt.Fprintln(out)
	_, err = io.Copy(out, io.LimitReader(resp.Body, 1<<20))
	return err
}

func fourLetter(ctx context.Context, addr, cmd string, out io.Writer) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := io.WriteString(c, cmd); err != nil {
		return err
	}
	_, err = io.Copy(out, c)
	return err
}
