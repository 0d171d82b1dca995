import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ResponseHead, ResponseReader, type ResponseReaderOptions } from './response-reader.ts';

/** What a reader reported, answer by answer. */
interface Seen {
  readonly heads: ResponseHead[];
  /** The body of each answer whose head came, de-chunked, as latin1 text. */
  readonly bodies: string[];
  readonly ends: boolean[];
  readonly errors: string[];
  /** The events in order, runs of data collapsed into one `data`. */
  readonly events: string[];
  /** `answer:bodyLength` at each piece onData marked `last`. */
  readonly lastMarks: string[];
  /** onData pieces that were empty (there should be none). */
  emptyPieces: number;
  /** Events other than onEnd right after a piece marked `last` (there should be none). */
  notEndAfterLast: number;
}

function recorder(options: ResponseReaderOptions = {}): { reader: ResponseReader; seen: Seen } {
  const seen: Seen = {
    heads: [],
    bodies: [],
    ends: [],
    errors: [],
    events: [],
    lastMarks: [],
    emptyPieces: 0,
    notEndAfterLast: 0,
  };
  let afterLast = false;
  const next = (end: boolean): void => {
    if (afterLast && !end) seen.notEndAfterLast++;
    afterLast = false;
  };
  const reader = new ResponseReader(
    {
      onHead(head) {
        next(false);
        seen.heads.push(head);
        seen.bodies.push('');
        seen.events.push(`head ${head.status}`);
      },
      onData(chunk, last) {
        next(false);
        if (chunk.length === 0) seen.emptyPieces++;
        const answer = seen.bodies.length - 1;
        seen.bodies[answer] = `${seen.bodies[answer] ?? '<no head>'}${chunk.toString('latin1')}`;
        if (seen.events.at(-1) !== 'data') seen.events.push('data');
        if (last) {
          seen.lastMarks.push(`${answer}:${seen.bodies[answer]?.length}`);
          afterLast = true;
        }
      },
      onEnd(reusable) {
        next(true);
        seen.ends.push(reusable);
        seen.events.push(`end ${reusable}`);
      },
      onError(error) {
        next(false);
        assert.equal(error.name, 'ResponseError');
        seen.errors.push(error.message);
        seen.events.push('error');
      },
    },
    options,
  );
  return { reader, seen };
}

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

interface ReadOptions extends ResponseReaderOptions {
  /** The request was HEAD. */
  readonly head?: boolean;
  /** The connection closes after the bytes. */
  readonly close?: boolean;
}

/** Reads one answer fed in one piece (or in the pieces given). */
function read(input: string | string[], options: ReadOptions = {}): Seen & { reader: ResponseReader } {
  const { reader, seen } = recorder(options);
  reader.expect(options.head ?? false);
  for (const piece of typeof input === 'string' ? [input] : input) reader.feed(bytes(piece));
  if (options.close === true) reader.close();
  assert.equal(seen.emptyPieces, 0, 'no empty body piece');
  assert.equal(seen.notEndAfterLast, 0, 'onEnd follows the piece marked last');
  return { ...seen, reader };
}

/** Reads one answer that must be refused; returns the error message. */
function refused(input: string | string[], options: ReadOptions = {}): string {
  const seen = read(input, options);
  assert.equal(seen.errors.length, 1, `refused: ${JSON.stringify(input).slice(0, 120)} → ${seen.events}`);
  assert.equal(seen.ends.length, 0, 'a refused answer never ends');
  assert.equal(seen.events.at(-1), 'error');
  assert.equal(seen.reader.busy, false);
  return seen.errors[0] as string;
}

describe('ResponseReader: Content-Length bodies', () => {
  it('passes the status, reason, headers as sent and exactly Content-Length body bytes', () => {
    const seen = read(
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nx-lower: a\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n' +
        'Content-Length: 11\r\n\r\nhello world',
    );
    assert.deepEqual(seen.heads, [
      {
        status: 200,
        statusMessage: 'OK',
        rawHeaders: [
          'Content-Type',
          'text/plain',
          'x-lower',
          'a',
          'Set-Cookie',
          'a=1',
          'Set-Cookie',
          'b=2',
          'Content-Length',
          '11',
        ],
      },
    ]);
    assert.deepEqual(seen.bodies, ['hello world']);
    assert.deepEqual(seen.events, ['head 200', 'data', 'end true']);
    assert.equal(seen.reader.busy, false);
    assert.equal(seen.reader.sawExtraBytes, false);
  });

  it('ends a zero-length answer at once, with no data', () => {
    const seen = read('HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n');
    assert.deepEqual(seen.events, ['head 201', 'end true']);
  });

  it('waits for the rest of the body, and is busy until it has it', () => {
    const seen = read(['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234']);
    assert.deepEqual(seen.events, ['head 200', 'data']);
    assert.equal(seen.reader.busy, true);
    seen.reader.feed(bytes('56789'));
    assert.deepEqual(seen.bodies, ['0123456789']);
    assert.deepEqual(seen.ends, [true]);
    assert.equal(seen.reader.busy, false);
  });

  it('passes binary bodies byte for byte', () => {
    const body = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
    const pieces: Buffer[] = [];
    const collecting = new ResponseReader({
      onHead: () => undefined,
      onData: (chunk) => void pieces.push(chunk),
      onEnd: () => undefined,
      onError: (error) => assert.fail(error),
    });
    collecting.expect(false);
    collecting.feed(Buffer.concat([bytes('HTTP/1.1 200 OK\r\nContent-Length: 512\r\n\r\n'), body]));
    assert.deepEqual(Buffer.concat(pieces), body);
    assert.equal(collecting.busy, false);
  });

  it('keeps an empty reason, a reason with spaces and obs-text, and trims optional whitespace in values', () => {
    assert.equal(read('HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n').heads[0]?.statusMessage, '');
    assert.equal(read('HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n').heads[0]?.statusMessage, '');
    assert.equal(
      read('HTTP/1.1 404 Not Found Here\r\nContent-Length: 0\r\n\r\n').heads[0]?.statusMessage,
      'Not Found Here',
    );
    assert.equal(
      read('HTTP/1.1 200 Tr\xe8s bien\r\nContent-Length: 0\r\n\r\n').heads[0]?.statusMessage,
      'Tr\xe8s bien',
    );
    const seen = read(
      'HTTP/1.1 200 OK\r\nX-Pad: \t  v a l \t \r\nX-Empty:\r\nX-Latin: caf\xe9\r\nX-Nbsp: \xa0v\xa0\r\nContent-Length: 0\r\n\r\n',
    );
    assert.deepEqual(seen.heads[0]?.rawHeaders, [
      'X-Pad',
      'v a l',
      'X-Empty',
      '',
      'X-Latin',
      'caf\xe9',
      'X-Nbsp',
      '\xa0v\xa0',
      'Content-Length',
      '0',
    ]);
  });
});

describe('ResponseReader: the piece that completes a body', () => {
  it('marks only the last piece of a length-framed body, and onEnd follows it', () => {
    const seen = read(['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123', '456', '789']);
    assert.deepEqual(seen.lastMarks, ['0:10']);
    assert.deepEqual(seen.ends, [true]);
  });

  it('marks no piece of a chunked or close-delimited body', () => {
    assert.deepEqual(
      read('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n').lastMarks,
      [],
    );
    assert.deepEqual(read('HTTP/1.1 200 OK\r\n\r\nabc', { close: true }).lastMarks, []);
  });
});

describe('ResponseReader: chunked bodies', () => {
  it('de-chunks, ignores chunk extensions and drops trailers', () => {
    const seen = read(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n' +
        '5;name=value\r\nhello\r\n1 ; quoted="a;b"\r\n \r\nA\r\n0123456789\r\nff\t\r\n' +
        'x'.repeat(255) +
        '\r\n0;last\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n',
    );
    assert.deepEqual(seen.heads[0]?.rawHeaders, ['Transfer-Encoding', 'chunked', 'Trailer', 'X-Checksum']);
    assert.deepEqual(seen.bodies, [`hello 0123456789${'x'.repeat(255)}`]);
    assert.deepEqual(seen.events, ['head 200', 'data', 'end true']);
    assert.doesNotMatch(seen.bodies[0] as string, /Checksum|\r/);
  });

  it('takes chunked as the last of several codings, in any case, over several header lines', () => {
    for (const te of [
      'Transfer-Encoding: gzip, chunked',
      'transfer-encoding: CHUNKED',
      'Transfer-Encoding: gzip\r\nTransfer-Encoding: Chunked',
    ]) {
      const seen = read(`HTTP/1.1 200 OK\r\n${te}\r\n\r\n3\r\n\x1f\x8b\x08\r\n0\r\n\r\n`);
      assert.deepEqual(seen.bodies, ['\x1f\x8b\x08'], te);
      assert.deepEqual(seen.ends, [true], te);
    }
  });

  it('ends on the last chunk even with no trailers, and only after the final CRLF', () => {
    const seen = read(['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n']);
    assert.deepEqual(seen.events, ['head 200', 'data']);
    assert.equal(seen.reader.busy, true, 'the empty line after the last chunk is still to come');
    seen.reader.feed(bytes('\r\n'));
    assert.deepEqual(seen.ends, [true]);
  });

  it('passes CRLF and chunk-looking bytes inside chunk data as data', () => {
    const data = '0\r\n\r\nHTTP/1.1 200 OK\r\n';
    const seen = read(
      `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${data.length.toString(16)}\r\n${data}\r\n0\r\n\r\n`,
    );
    assert.deepEqual(seen.bodies, [data]);
    assert.deepEqual(seen.ends, [true]);
  });
});

describe('ResponseReader: bodies delimited by the connection closing', () => {
  it('reads a body with no length until close(), and never reuses the connection', () => {
    const seen = read(['HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ', 'the end']);
    assert.deepEqual(seen.events, ['head 200', 'data']);
    assert.equal(seen.reader.busy, true);
    seen.reader.close();
    assert.deepEqual(seen.bodies, ['until the end']);
    assert.deepEqual(seen.ends, [false]);
    assert.equal(seen.reader.busy, false);
  });

  it('reads a non-chunked Transfer-Encoding until close()', () => {
    for (const te of ['gzip', 'chunked, gzip', 'identity']) {
      const seen = read(`HTTP/1.1 200 OK\r\nTransfer-Encoding: ${te}\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, {
        close: true,
      });
      assert.deepEqual(seen.bodies, ['5\r\nhello\r\n0\r\n\r\n'], te);
      assert.deepEqual(seen.ends, [false], te);
      assert.deepEqual(seen.errors, [], te);
    }
  });

  it('ends an empty close-delimited body on close()', () => {
    const seen = read('HTTP/1.1 200 OK\r\n\r\n', { close: true });
    assert.deepEqual(seen.events, ['head 200', 'end false']);
  });
});

describe('ResponseReader: answers without a body', () => {
  it('reads no body after a HEAD request, whatever the framing headers say', () => {
    for (const framing of ['Content-Length: 100', 'Transfer-Encoding: chunked', 'Content-Type: text/html']) {
      const seen = read(`HTTP/1.1 200 OK\r\n${framing}\r\n\r\n`, { head: true });
      assert.deepEqual(seen.events, ['head 200', 'end true'], framing);
      assert.deepEqual(seen.heads[0]?.rawHeaders, framing.split(': '), framing);
    }
  });

  it('reads no body after 204 and 304', () => {
    for (const status of ['204 No Content', '304 Not Modified']) {
      const seen = read(`HTTP/1.1 ${status}\r\nContent-Length: 10\r\nETag: "x"\r\n\r\n`);
      assert.deepEqual(seen.events, [`head ${status.slice(0, 3)}`, 'end true'], status);
    }
    const chunked = read('HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n');
    assert.deepEqual(chunked.events, ['head 304', 'end true']);
  });

  it('does not reuse a bodiless answer that said Connection: close or was HTTP/1.0', () => {
    assert.deepEqual(read('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n').ends, [false]);
    assert.deepEqual(read('HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n', { head: true }).ends, [false]);
  });
});

describe('ResponseReader: interim answers', () => {
  it('skips 100 Continue and 103 Early Hints and reports only the final answer', () => {
    const seen = read(
      'HTTP/1.1 100 Continue\r\n\r\n' +
        'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n' +
        'HTTP/1.1 103 Early Hints\r\nLink: </app.js>; rel=preload\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
    );
    assert.deepEqual(seen.heads, [{ status: 200, statusMessage: 'OK', rawHeaders: ['Content-Length', '2'] }]);
    assert.deepEqual(seen.events, ['head 200', 'data', 'end true']);
  });

  it('stays busy after an interim answer until the final one comes', () => {
    const seen = read('HTTP/1.1 100 Continue\r\n\r\n');
    assert.deepEqual(seen.events, []);
    assert.equal(seen.reader.busy, true);
    seen.reader.feed(bytes('HTTP/1.1 204 No Content\r\n\r\n'));
    assert.deepEqual(seen.events, ['head 204', 'end true']);
  });

  it('refuses a 101 Switching Protocols nobody asked for', () => {
    const message = refused(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    );
    assert.match(message, /101/);
  });
});

describe('ResponseReader: Content-Length values', () => {
  it('accepts a list of equal lengths and repeated equal headers, and passes the length on once', () => {
    for (const lines of [
      'Content-Length: 5, 5',
      'Content-Length: 5,5 , 5',
      'Content-Length: 5\r\nContent-Length: 5',
      'Content-Length: 5\r\nX-Between: 1\r\ncontent-length: 5, 5',
    ]) {
      const seen = read(`HTTP/1.1 200 OK\r\n${lines}\r\n\r\nhelloEXTRA`);
      assert.deepEqual(seen.bodies, ['hello'], lines);
      const names = (seen.heads[0]?.rawHeaders ?? []).filter((_, i) => i % 2 === 0);
      const lengths = names.filter((name) => name.toLowerCase() === 'content-length');
      assert.equal(lengths.length, 1, `${lines}: Content-Length passed on once`);
      const at = (seen.heads[0]?.rawHeaders ?? []).indexOf('Content-Length');
      assert.equal(seen.heads[0]?.rawHeaders[at + 1], '5', `${lines}: as one number`);
    }
  });

  it('refuses conflicting and non-numeric lengths', () => {
    for (const lines of [
      'Content-Length: 5, 6',
      'Content-Length: 5\r\nContent-Length: 6',
      'Content-Length: 5\r\nContent-Length: 05',
      'Content-Length: abc',
      'Content-Length: -1',
      'Content-Length: +5',
      'Content-Length: 5.0',
      'Content-Length: 0x5',
      'Content-Length: 5 5',
      'Content-Length: 5,',
      'Content-Length: ,5',
      'Content-Length:',
      'Content-Length: 1234567890123456',
      'Content-Length: 5\xa0',
    ]) {
      assert.match(refused(`HTTP/1.1 200 OK\r\n${lines}\r\n\r\nhello`), /Content-Length/, lines);
    }
  });

  it('accepts a length of 15 digits', () => {
    const seen = read('HTTP/1.1 200 OK\r\nContent-Length: 999999999999999\r\n\r\nabc');
    assert.deepEqual(seen.errors, []);
    assert.equal(seen.reader.busy, true);
  });

  it('lets Transfer-Encoding win over Content-Length, drops the length, and does not reuse the connection', () => {
    for (const lines of [
      'Content-Length: 3\r\nTransfer-Encoding: chunked',
      'Transfer-Encoding: chunked\r\ncontent-length: 3',
      'CONTENT-LENGTH: 3, 3\r\nTransfer-Encoding: chunked\r\nContent-Length: 3',
    ]) {
      const seen = read(
        `HTTP/1.1 200 OK\r\nX-Before: 1\r\n${lines}\r\nX-After: 2\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
      );
      assert.deepEqual(seen.bodies, ['hello'], lines);
      assert.deepEqual(seen.ends, [false], lines);
      assert.deepEqual(
        seen.heads[0]?.rawHeaders,
        ['X-Before', '1', 'Transfer-Encoding', 'chunked', 'X-After', '2'],
        lines,
      );
    }
  });
});

describe('ResponseReader: when the connection may be reused', () => {
  it('reuses HTTP/1.1 answers framed by length or chunks', () => {
    assert.deepEqual(read('HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx').ends, [
      true,
    ]);
    assert.deepEqual(read('HTTP/1.1 200 OK\r\nConnection: x-close\r\nContent-Length: 1\r\n\r\nx').ends, [
      true,
    ]);
    assert.deepEqual(read('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n').ends, [true]);
  });

  it('does not reuse after Connection: close, in any case or list position', () => {
    for (const connection of [
      'close',
      'Close',
      'keep-alive, close',
      'close , Upgrade',
      'x\r\nConnection: CLOSE',
    ]) {
      const length = read(`HTTP/1.1 200 OK\r\nConnection: ${connection}\r\nContent-Length: 1\r\n\r\nx`);
      assert.deepEqual(length.ends, [false], connection);
      const chunked = read(
        `HTTP/1.1 200 OK\r\nConnection: ${connection}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      );
      assert.deepEqual(chunked.ends, [false], connection);
    }
  });

  it('does not reuse after an HTTP/1.0 answer, even one that says keep-alive', () => {
    const seen = read('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok');
    assert.deepEqual(seen.bodies, ['ok']);
    assert.deepEqual(seen.ends, [false]);
  });
});

describe('ResponseReader: bytes after the answer', () => {
  it('marks a length-framed answer followed by more bytes not reusable', () => {
    const seen = read(
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil',
    );
    assert.deepEqual(seen.events, ['head 200', 'data', 'end false']);
    assert.deepEqual(seen.bodies, ['ok']);
    assert.equal(seen.reader.sawExtraBytes, true);
  });

  it('marks a chunked answer followed by more bytes not reusable', () => {
    const seen = read('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n\r\n');
    assert.deepEqual(seen.events, ['head 200', 'data', 'end false']);
    assert.equal(seen.reader.sawExtraBytes, true);
  });

  it('marks a bodiless answer followed by more bytes in the same read not reusable', () => {
    const smuggled = 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil';
    for (const [answer, head] of [
      ['HTTP/1.1 204 No Content\r\n\r\n', false],
      ['HTTP/1.1 304 Not Modified\r\n\r\n', false],
      ['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', false],
      ['HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n', true],
    ] as const) {
      const seen = read(answer + smuggled, { head });
      assert.deepEqual(seen.events, [`head ${answer.slice(9, 12)}`, 'end false'], answer);
      assert.equal(seen.reader.sawExtraBytes, true, answer);
    }
  });

  it('notes bytes that come after a complete answer, or with no request outstanding, and reports nothing', () => {
    const seen = read('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    assert.deepEqual(seen.ends, [true]);
    assert.equal(seen.reader.sawExtraBytes, false);
    seen.reader.feed(bytes('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil'));
    assert.equal(seen.reader.sawExtraBytes, true);
    assert.deepEqual(
      seen.events,
      ['head 200', 'data', 'end true'],
      'the stray bytes are not read as an answer',
    );

    const idle = recorder();
    idle.reader.feed(bytes('HTTP/1.1 200 OK\r\n\r\n'));
    assert.equal(idle.reader.sawExtraBytes, true);
    assert.deepEqual(idle.seen.events, []);
  });

  it('never reports a connection reusable again once stray bytes came', () => {
    const { reader, seen } = recorder();
    reader.feed(bytes('x'));
    reader.expect(false);
    reader.feed(bytes('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    assert.deepEqual(seen.events, ['head 200', 'data', 'end false']);
  });
});

describe('ResponseReader: refused heads', () => {
  it('refuses obs-fold', () => {
    for (const fold of [' continued', '\tcontinued', '  ']) {
      assert.match(
        refused(`HTTP/1.1 200 OK\r\nX-A: 1\r\n${fold}\r\nContent-Length: 0\r\n\r\n`),
        /obs-fold/,
        fold,
      );
    }
    assert.match(refused('HTTP/1.1 200 OK\r\nX-A: 1\r\n Content-Length: 5\r\n\r\nhello'), /header name/);
  });

  it('refuses header names that are not tokens and lines without a colon', () => {
    for (const line of [
      'X A: 1',
      'X-A : 1',
      'X-A\t: 1',
      'X(A): 1',
      'X\xe9: 1',
      'X\x00A: 1',
      'X/A: 1',
      '"X": 1',
    ]) {
      assert.match(
        refused(`HTTP/1.1 200 OK\r\n${line}\r\nContent-Length: 0\r\n\r\n`),
        /header name/,
        JSON.stringify(line),
      );
    }
    for (const line of [': empty name', 'no colon at all', 'X-A']) {
      assert.match(
        refused(`HTTP/1.1 200 OK\r\n${line}\r\nContent-Length: 0\r\n\r\n`),
        /without a name/,
        line,
      );
    }
  });

  it('refuses control characters anywhere in a value, bare CR and LF included', () => {
    for (const value of [
      'a\x00b',
      'a\x01',
      '\x1bx',
      'a\x7f',
      'a\rb',
      'a\nX-Injected: 1',
      'a\x0b',
      '\x0cb',
      'a\x0c',
    ]) {
      assert.match(
        refused(`HTTP/1.1 200 OK\r\nX-A: ${value}\r\nContent-Length: 0\r\n\r\n`),
        /control character/,
        JSON.stringify(value),
      );
    }
  });

  it('refuses bad status lines', () => {
    for (const line of [
      'HTTP/1.1 20 OK',
      'HTTP/1.1 2000 OK',
      'HTTP/1.1 099 Low',
      'HTTP/1.1 abc OK',
      'HTTP/1.1  200 OK',
      'HTTP/1.1 200\tOK',
      'HTTP/1.1 200 O\x00K',
      'HTTP/1.1 200 O\rK',
      'HTTP/1.2 200 OK',
      'HTTP/2 200 OK',
      'HTTP/2.0 200 OK',
      'http/1.1 200 OK',
      ' HTTP/1.1 200 OK',
      'ICY 200 OK',
      '',
      '\x16\x03\x01\x02\x00',
    ]) {
      assert.match(refused(`${line}\r\nContent-Length: 0\r\n\r\n`), /status line/, JSON.stringify(line));
    }
  });

  it('refuses a head over maxHeadBytes, even before it ends', () => {
    const head = (length: number): string => {
      const start = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: ';
      return start + 'p'.repeat(length - start.length);
    };
    assert.deepEqual(read(`${head(200)}\r\n\r\n`, { maxHeadBytes: 200 }).ends, [true]);
    assert.match(refused(`${head(201)}\r\n\r\n`, { maxHeadBytes: 200 }), /over 200 bytes/);
    // A head that never ends is refused once it passes the limit.
    const seen = read([head(150), 'p'.repeat(60)], { maxHeadBytes: 200 });
    assert.deepEqual(seen.events, ['error']);
    assert.match(seen.errors[0] as string, /over 200 bytes/);
    // Default: 64 KiB.
    assert.deepEqual(read(`${head(64 * 1024)}\r\n\r\n`).ends, [true]);
    assert.match(refused(`${head(64 * 1024 + 1)}\r\n\r\n`), /over 65536 bytes/);
  });

  it('decides the head limit the same however the head is split', () => {
    const start = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: ';
    const atLimit = `${start}${'p'.repeat(100 - start.length)}\r\n\r\n`;
    const overLimit = `${start}${'p'.repeat(101 - start.length)}\r\n\r\n`;
    for (let cut = 1; cut < atLimit.length; cut++) {
      const seen = read([atLimit.slice(0, cut), atLimit.slice(cut)], { maxHeadBytes: 100 });
      assert.deepEqual(seen.events, ['head 200', 'end true'], `a head of exactly 100 bytes, cut at ${cut}`);
    }
    for (let cut = 1; cut < overLimit.length; cut++) {
      const seen = read([overLimit.slice(0, cut), overLimit.slice(cut)], { maxHeadBytes: 100 });
      assert.deepEqual(seen.events, ['error'], `a head of 101 bytes, cut at ${cut}`);
    }
  });
});

describe('ResponseReader: refused chunked bodies', () => {
  const chunked = (body: string): string => `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${body}`;

  it('refuses a chunk size that is not hex, is empty, or is too long', () => {
    for (const size of [
      'xyz',
      '',
      '-1',
      '0x5',
      '+5',
      ' 5',
      '5 x',
      '5\x00',
      '1234567890abc',
      `5;${'e'.repeat(5000)}`,
    ]) {
      const message = refused(chunked(`${size}\r\nhello\r\n0\r\n\r\n`));
      assert.match(message, /chunk size|too long/, JSON.stringify(size.slice(0, 20)));
    }
  });

  it('accepts 12 hex digits of chunk size', () => {
    const seen = read(chunked('000000000003\r\nabc\r\n0\r\n\r\n'));
    assert.deepEqual(seen.bodies, ['abc']);
  });

  it('refuses chunk data not followed by CRLF', () => {
    for (const body of ['5\r\nhelloX\r\n0\r\n\r\n', '5\r\nhello0\r\n\r\n', '3\r\nhello\r\n0\r\n\r\n']) {
      assert.match(refused(chunked(body)), /longer than its size/, JSON.stringify(body));
    }
  });

  it('refuses a bare LF in chunk-size lines, after chunk data, and in trailers', () => {
    for (const body of [
      '5\nhello\r\n0\r\n\r\n',
      '5\r\nhello\n0\r\n\r\n',
      '5\r\nhello\r\n0\n\r\n',
      '5\r\nhello\r\n0\r\n\n',
      '5\r\nhello\r\n0\r\nX-T: 1\n\r\n',
    ]) {
      assert.match(refused(chunked(body)), /bare LF/, JSON.stringify(body));
    }
  });

  it('refuses trailer lines without a name, and trailers over 16 KiB', () => {
    assert.match(refused(chunked('0\r\nno colon\r\n\r\n')), /trailer line without a name/);
    assert.match(refused(chunked('0\r\n: v\r\n\r\n')), /trailer line without a name/);
    const trailers = Array.from({ length: 20 }, (_, i) => `X-T${i}: ${'v'.repeat(1000)}\r\n`).join('');
    assert.match(refused(chunked(`0\r\n${trailers}\r\n`)), /trailers are too large/);
  });

  it('refuses an answer that goes on after an error, and reports nothing more', () => {
    const seen = read([chunked('zz\r\n'), '5\r\nhello\r\n0\r\n\r\n']);
    assert.deepEqual(seen.events, ['head 200', 'error']);
    seen.reader.close();
    assert.deepEqual(seen.events, ['head 200', 'error']);
  });
});

describe('ResponseReader: the connection closing early', () => {
  it('fails an answer cut mid-body', () => {
    assert.match(refused('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf', { close: true }), /mid-body/);
    assert.match(
      refused('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n', { close: true }),
      /mid-body/,
    );
    assert.match(
      refused('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n', { close: true }),
      /mid-body/,
    );
  });

  it('fails an answer cut before its head, after part of it, or after an interim answer', () => {
    for (const input of ['', 'HTTP/1.1 200 OK\r\nContent-Le', 'HTTP/1.1 100 Continue\r\n\r\n']) {
      assert.match(refused(input, { close: true }), /before answering/, JSON.stringify(input));
    }
  });

  it('reports nothing when the connection closes while idle', () => {
    const { reader, seen } = recorder();
    reader.close();
    reader.expect(false);
    reader.feed(bytes('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx'));
    reader.close();
    assert.deepEqual(seen.events, ['head 200', 'data', 'end true']);
  });

  it('is busy only between expect() and the end or failure', () => {
    const { reader } = recorder();
    assert.equal(reader.busy, false);
    reader.expect(false);
    assert.equal(reader.busy, true);
    reader.feed(bytes('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n'));
    assert.equal(reader.busy, true);
    reader.feed(bytes('x'));
    assert.equal(reader.busy, false);
    reader.expect(false);
    reader.feed(bytes('nonsense\r\n\r\n'));
    assert.equal(reader.busy, false);
  });
});

// ----------------------------------------------------------------------------------------------
// Splitting: how the bytes are cut into reads never changes what the reader reports.

interface Scenario {
  readonly name: string;
  /** The answers read one after the other on the same reader, expect() called before each. */
  readonly answers: readonly { readonly text: string; readonly head?: boolean }[];
  /** The connection closes after the last answer's bytes. */
  readonly close?: boolean;
  readonly maxHeadBytes?: number;
}

/**
 * Feeds the scenario's bytes cut at `cuts` (positions in all the answers' bytes together; a piece
 * never spans two answers, as the gate sends the next request only after an answer ends).
 */
function runSplit(scenario: Scenario, cuts: readonly number[]): Seen & { extra: boolean } {
  const { reader, seen } = recorder(
    scenario.maxHeadBytes === undefined ? {} : { maxHeadBytes: scenario.maxHeadBytes },
  );
  let offset = 0;
  for (const answer of scenario.answers) {
    assert.equal(reader.busy, false, `${scenario.name}: the previous answer ended`);
    reader.expect(answer.head ?? false);
    const data = bytes(answer.text);
    let from = 0;
    for (const cut of cuts) {
      const at = cut - offset;
      if (at <= from || at >= data.length) continue;
      reader.feed(data.subarray(from, at));
      from = at;
    }
    reader.feed(data.subarray(from));
    offset += data.length;
  }
  if (scenario.close === true) reader.close();
  assert.equal(seen.emptyPieces, 0, `${scenario.name}: no empty body piece`);
  assert.equal(seen.notEndAfterLast, 0, `${scenario.name}: onEnd follows the piece marked last`);
  return { ...seen, extra: reader.sawExtraBytes };
}

const binary = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join('');

const valid: Scenario[] = [
  {
    name: 'a Content-Length body',
    answers: [
      { text: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world' },
    ],
  },
  {
    name: 'a binary Content-Length body holding CRLFs',
    answers: [{ text: `HTTP/1.1 200 OK\r\nContent-Length: 256\r\n\r\n${binary}` }],
  },
  {
    name: 'a chunked body with extensions and trailers',
    answers: [
      {
        text:
          'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n' +
          '5;name=value\r\nhello\r\n1 ; q="a;b"\r\n \r\nA\r\n\r\n0\r\n\r\n\r\nX\r\n10\r\n' +
          binary.slice(0, 16) +
          '\r\n0;last\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n',
      },
    ],
  },
  {
    name: 'interim answers, then the final one',
    answers: [
      {
        text:
          'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n' +
          'HTTP/1.1 201 Created\r\nLocation: /items/1\r\nContent-Length: 7\r\n\r\ncreated',
      },
    ],
  },
  {
    name: 'answers back to back on one connection',
    answers: [
      { text: 'HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nfirst' },
      { text: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nsecond\r\n0\r\n\r\n' },
      { text: 'HTTP/1.1 204 No Content\r\n\r\n' },
      { text: 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n', head: true },
      { text: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n' },
      { text: 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 4\r\n\r\nlast' },
    ],
  },
  {
    name: 'a body delimited by the connection closing',
    answers: [{ text: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nuntil the\r\n\r\nend' }],
    close: true,
  },
  {
    name: 'Transfer-Encoding and Content-Length together',
    answers: [
      {
        text: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
      },
    ],
  },
];

const invalid: Scenario[] = [
  {
    name: 'conflicting lengths',
    answers: [{ text: 'HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello' }],
  },
  {
    name: 'a bad chunk size',
    answers: [
      { text: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5x\r\nhello\r\n0\r\n\r\n' },
    ],
  },
  {
    name: 'chunk data without its CRLF',
    answers: [{ text: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello world\r\n0\r\n\r\n' }],
  },
  {
    name: 'a bare LF after chunk data',
    answers: [{ text: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n' }],
  },
  { name: 'obs-fold', answers: [{ text: 'HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n' }] },
  {
    name: 'a head over the limit',
    answers: [{ text: `HTTP/1.1 200 OK\r\nX-Pad: ${'p'.repeat(120)}\r\nContent-Length: 0\r\n\r\n` }],
    maxHeadBytes: 100,
  },
  {
    name: 'a cut body',
    answers: [{ text: 'HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhalf' }],
    close: true,
  },
];

/** A small deterministic generator, for random multi-way cuts. */
function lcg(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

describe('ResponseReader: the same result however the bytes are split', () => {
  for (const scenario of [...valid, ...invalid]) {
    it(scenario.name, () => {
      const total = scenario.answers.reduce((sum, answer) => sum + bytes(answer.text).length, 0);
      const whole = runSplit(scenario, []);
      if (valid.includes(scenario)) {
        assert.deepEqual(whole.errors, [], `${scenario.name}: read without error`);
        assert.equal(whole.ends.length, scenario.answers.length, `${scenario.name}: every answer ended`);
      } else {
        assert.equal(whole.errors.length, 1, `${scenario.name}: refused`);
      }
      const check = (cuts: number[], how: string): void => {
        const split = runSplit(scenario, cuts);
        assert.deepEqual(split.heads, whole.heads, `${scenario.name}, ${how}: heads`);
        assert.deepEqual(split.bodies, whole.bodies, `${scenario.name}, ${how}: bodies`);
        assert.deepEqual(split.ends, whole.ends, `${scenario.name}, ${how}: ends`);
        assert.deepEqual(split.errors, whole.errors, `${scenario.name}, ${how}: errors`);
        assert.deepEqual(split.lastMarks, whole.lastMarks, `${scenario.name}, ${how}: the piece marked last`);
        assert.deepEqual(split.events, whole.events, `${scenario.name}, ${how}: order of events`);
        assert.equal(split.extra, whole.extra, `${scenario.name}, ${how}: stray bytes`);
      };
      for (let cut = 1; cut < total; cut++) check([cut], `cut at ${cut}`);
      for (let first = 1; first < total; first += 7) {
        for (let second = first + 1; second < total; second += 3)
          check([first, second], `cut at ${first} and ${second}`);
      }
      check(
        Array.from({ length: total }, (_, i) => i),
        'byte by byte',
      );
      const random = lcg(total);
      for (let round = 0; round < 100; round++) {
        const cuts = Array.from({ length: 1 + Math.floor(random() * 12) }, () =>
          Math.floor(random() * total),
        ).sort((a, b) => a - b);
        check(cuts, `cut at ${cuts.join(',')}`);
      }
    });
  }
});
