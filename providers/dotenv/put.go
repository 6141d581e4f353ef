package dotenv

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mcp-secrets/mcp-secrets/providers"
	"github.com/mcp-secrets/mcp-secrets/providers/file"
)

// Put appends values to the last file as variables named by their keys,
// for mcp-secrets wrap; name (the server they are for) heads them as a
// comment. The file is created with mode 0600 when it does not exist, and
// replaced atomically (a temporary file in its directory, renamed). A
// variable the file already sets to the same value is not written again;
// to another value, Put fails: the caller picks free names.
func (f *Files) Put(_ context.Context, name string, values map[string]string) error {
	path := f.paths[len(f.paths)-1]
	data, mode, err := readForPut(path)
	if err != nil {
		return err
	}
	have, err := Parse(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var block strings.Builder
	for _, k := range slices.Sorted(maps.Keys(values)) {
		v := values[k]
		if old, ok := have[k]; ok {
			if old != v {
				return providers.Errorf(providers.ErrConfig, "%s already sets %s to another value", path, k)
			}
			continue
		}
		line, ok := assignment(k, v)
		if !ok {
			return providers.Errorf(providers.ErrConfig, "the value of %s cannot be written in dotenv syntax", k)
		}
		block.WriteString(line)
	}
	if block.Len() == 0 {
		return nil
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data, '\n')
	}
	data = append(data, "# "+strings.Join(strings.Fields(name), " ")+" (mcp-secrets wrap)\n"+block.String()...)
	return replace(path, data, mode)
}

// readForPut is the file Put appends to, and its mode: none and 0600 if
// it does not exist yet.
func readForPut(path string) ([]byte, fs.FileMode, error) {
	fh, fi, err := file.Open(path, MaxFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, 0o600, nil
	case err != nil:
		return nil, 0, readError(err)
	}
	defer fh.Close()
	data, err := file.ReadAll(fh, fi, MaxFile)
	if err != nil {
		return nil, 0, readError(err)
	}
	return data, fi.Mode().Perm(), nil
}

// assignment is NAME=VALUE in the first form this package reads back as
// exactly value: single quotes take everything literally but a quote;
// double quotes need escapes, and $ escaped against expansion; bare is
// left for a value ending in a backslash, which no quote can close.
func assignment(name, value string) (string, bool) {
	if strings.Trim(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.") != "" || name == "" {
		return "", false
	}
	double := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "\n", `\n`, "\r", `\r`)
	for _, line := range []string{
		name + "='" + value + "'\n",
		name + `="` + double.Replace(value) + "\"\n",
		name + "=" + value + "\n",
	} {
		if m, err := Parse([]byte(line)); err == nil && len(m) == 1 && m[name] == value {
			return line, true
		}
	}
	return "", false
}

// replace writes data to path atomically, with the given mode.
func replace(path string, data []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return providers.Errorf(providers.ErrConfig, "%w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing by that name
	err = tmp.Chmod(mode)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return providers.Errorf(providers.ErrConfig, "%w", err)
	}
	return nil
}
