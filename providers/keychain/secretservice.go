// go-keyring reaches the Secret Service over D-Bus everywhere but on macOS
// and Windows.

//go:build !darwin && !windows

package keychain

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// hint says what a Linux user can do about a keychain that does not answer.
const hint = "on Linux the keychain is the Secret Service (GNOME Keyring, KeePassXC, KWallet) of a desktop session's D-Bus session bus; without one, use a .env file (--fallback auto)"

const secretsName = "org.freedesktop.secrets"

const (
	noService = "no Secret Service on the session bus (nothing owns " + secretsName + "): " + hint
	locked    = "the keyring is locked and no unlock prompt was answered: unlock it (Seahorse, or the desktop's login) and try again"
)

// findBus finds the session bus where godbus would, but never falls back
// to running dbus-launch as godbus does: a bus launched for one call has no
// keyring on it, and a keyring call on it hung. An address found on disk is
// set in the launcher's own environment, where godbus reads it (the child's
// environment was taken before).
func findBus() error {
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && a != "autolaunch:" {
		return nil
	}
	var tried []string
	for _, dir := range []string{os.Getenv("XDG_RUNTIME_DIR"), fmt.Sprintf("/run/user/%d", os.Getuid())} {
		if dir == "" {
			continue
		}
		sock := filepath.Join(dir, "bus")
		if fi, err := os.Stat(sock); err == nil && fi.Mode().Type() == fs.ModeSocket {
			return os.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+dbus.EscapeBusAddressValue(sock))
		}
		tried = append(tried, sock)
	}
	return fmt.Errorf("%w: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set, no socket at %s): %s",
		providers.ErrUnavailable, strings.Join(tried, " or "), hint)
}

// serviceUp asks the session bus whether a Secret Service is on it, or is
// one it starts on demand.
func serviceUp() error {
	conn, err := dbus.SessionBus() // the connection go-keyring uses too
	if err != nil {
		return err
	}
	bus := conn.BusObject()
	var up bool
	if err := bus.Call("org.freedesktop.DBus.NameHasOwner", 0, secretsName).Store(&up); err != nil {
		return err
	}
	if up {
		return nil
	}
	var names []string
	if err := bus.Call("org.freedesktop.DBus.ListActivatableNames", 0).Store(&names); err != nil {
		return err
	}
	if slices.Contains(names, secretsName) {
		return nil
	}
	return fmt.Errorf("%w: %s", providers.ErrUnavailable, noService)
}

// unlocked fails if the collection go-keyring uses (login, else the
// default) is locked, before go-keyring would open an unlock prompt (and
// leave a signal channel registered on the shared connection for each).
func unlocked() error {
	conn, err := dbus.SessionBus()
	if err != nil {
		return err
	}
	col := dbus.ObjectPath("/org/freedesktop/secrets/aliases/default")
	all, err := conn.Object(secretsName, "/org/freedesktop/secrets").GetProperty("org.freedesktop.Secret.Service.Collections")
	if err != nil {
		return err
	}
	if paths, _ := all.Value().([]dbus.ObjectPath); slices.Contains(paths, "/org/freedesktop/secrets/collection/login") {
		col = "/org/freedesktop/secrets/collection/login"
	}
	l, err := conn.Object(secretsName, col).GetProperty("org.freedesktop.Secret.Collection.Locked")
	if err != nil {
		return err
	}
	if isLocked, _ := l.Value().(bool); isLocked {
		return fmt.Errorf("%w: %s", providers.ErrUnavailable, locked)
	}
	return nil
}

// platformError is the kind of a failure of the bus or the Secret Service,
// and its reason.
func platformError(err error) (kind error, reason string) {
	var de dbus.Error
	switch {
	case errors.As(err, &de):
		switch de.Name {
		case "org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner":
			return providers.ErrUnavailable, noService
		case "org.freedesktop.Secret.Error.IsLocked":
			return providers.ErrUnavailable, locked
		case "org.freedesktop.DBus.Error.AccessDenied":
			return providers.ErrDenied, de.Error()
		}
		return providers.ErrUnavailable, de.Name + ": " + de.Error()
	case strings.HasPrefix(err.Error(), "failed to unlock"): // go-keyring's, after a dismissed or impossible prompt
		return providers.ErrUnavailable, locked
	}
	return providers.ErrUnavailable, fmt.Sprintf("session bus %s: %v; %s", os.Getenv("DBUS_SESSION_BUS_ADDRESS"), err, hint)
}
