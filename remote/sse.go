package remote

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"time"
)

// event is one server-sent event (the WHATWG event-stream format) as MCP
// uses it: a JSON-RPC message in data, an id to resume from.
type event struct {
	id    string // "" if the event set none
	name  string // "" is "message"
	data  []byte // the data lines joined by \n
	retry time.Duration
	// tooLong is an event whose data is longer than the reader's bound:
	// data holds its first bytes only, for the id of the reply it was.
	tooLong bool
}

// eventReader reads events from a stream, each bounded: a stream that never
// ends a line or an event costs at most about max bytes.
type eventReader struct {
	r   *bufio.Reader
	max int
}

func newEventReader(r io.Reader, max int) *eventReader {
	return &eventReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// tooLongHead is how much of an event too long to relay is kept: enough
// for the members before a message's payload.
const tooLongHead = 64 << 10

// next returns the next event that has data, an id or a retry (comments
// and empty events are skipped); io.EOF at the end of the stream. Lines end
// in \n or \r\n: MCP servers write those, and a lone \r would make the
// reader wait for the byte after it before it could end an event.
func (e *eventReader) next() (event, error) {
	var ev event
	var data bytes.Buffer
	dataLines := 0
	for {
		line, cut, err := e.line(e.max + len("data: "))
		if err != nil {
			return event{}, err
		}
		if len(line) == 0 {
			if dataLines > 0 || ev.id != "" || ev.retry > 0 {
				ev.data = data.Bytes()
				return ev, nil
			}
			continue
		}
		if line[0] == ':' {
			continue // a comment: a keep-alive
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "data":
			if dataLines > 0 && !ev.tooLong {
				data.WriteByte('\n')
			}
			dataLines++
			if cut || data.Len()+len(value) > e.max {
				ev.tooLong = true
			}
			if !ev.tooLong {
				data.Write(value)
			} else if room := tooLongHead - data.Len(); room > 0 {
				data.Write(value[:min(room, len(value))])
			}
		case "id":
			if bytes.IndexByte(value, 0) < 0 && !cut {
				ev.id = string(value)
			}
		case "event":
			ev.name = string(value)
		case "retry":
			if ms, err := strconv.ParseUint(string(value), 10, 31); err == nil {
				ev.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
}

// line reads one line without its end, keeping at most limit bytes of it:
// a longer line is read to its end and comes back cut. The line may point
// into the reader's buffer: it is good until the next read.
func (e *eventReader) line(limit int) (line []byte, cut bool, err error) {
	var kept []byte
	n := 0
	for {
		chunk, err := e.r.ReadSlice('\n')
		end := err == nil
		switch {
		case end:
			chunk = chunk[:len(chunk)-1]
		case !errors.Is(err, bufio.ErrBufferFull):
			return nil, false, err // the stream ended, maybe inside an event: it is lost
		}
		if end && n == 0 && len(chunk) <= limit {
			return bytes.TrimSuffix(chunk, []byte("\r")), false, nil
		}
		if keep := min(len(chunk), limit-len(kept)); keep > 0 {
			kept = append(kept, chunk[:keep]...)
		}
		n += len(chunk)
		if end {
			return bytes.TrimSuffix(kept, []byte("\r")), n > limit, nil
		}
	}
}
