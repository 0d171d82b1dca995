/**
 * The Python → JavaScript regex translation, as data: each case is a Python pattern, a subject (which
 * fail2ban follows with "\n") and what Python's `re.search` returned — the match span and groupdict —
 * computed with CPython 3.11 when the case was written.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PythonRegexError, translatePythonRegex } from './python-regex.ts';

type Expected = [start: number, end: number, groups: Record<string, string | null>] | null;

// prettier-ignore
const PYTHON: [pattern: string, subject: string, expected: Expected][] = [
  ["^a(?P<x>b)?c$","ac",[0,2,{"x":null}]],
  ["^a(?P<x>b)?c$","abc",[0,3,{"x":"b"}]],
  ["^a(?P<x>b)?c$","abbc",null],
  ["(?P<sep>[-/.])\\d(?P=sep)","1-2-3",[1,4,{"sep":"-"}]],
  ["(?P<sep>[-/.])\\d(?P=sep)","1-2/3",null],
  ["^(?P<a>x)?(?(a)y|z)$","xy",[0,2,{"a":"x"}]],
  ["^(?P<a>x)?(?(a)y|z)$","z",[0,1,{"a":null}]],
  ["^(?P<a>x)?(?(a)y|z)$","xz",null],
  ["(?:(a)|b)(?(1)c|d)","bd",[0,2,{}]],
  ["(?:(a)|b)(?(1)c|d)","bc",null],
  ["(a)|b\\1","b",null],
  ["(a)|b\\1","ba",[1,2,{}]],
  ["(?i)abc","xAbCx",[1,4,{}]],
  ["a(?i:b)c","aBc",[0,3,{}]],
  ["a(?i:b)c","ABC",null],
  ["\\w+","héllo wörld",[0,5,{}]],
  ["\\d+","abc١٢٣def",[3,6,{}]],
  ["\\bfoo\\b","éfooé",null],
  ["\\bfoo\\b","_foo_ foo",[6,9,{}]],
  ["(?a)\\w+","héllo",[0,1,{}]],
  ["[^\\S\\n]+","a \t b",[1,4,{}]],
  ["[\\W\\d]+","ab-12-cd",[2,6,{}]],
  ["x\\s$","x",[0,2,{}]],
  ["x$","x",[0,1,{}]],
  ["x\\Z","x",null],
  ["a{2,3}","aaaa",[0,3,{}]],
  ["a{,2}b","aaab",[1,4,{}]],
  ["a{x}","a{x}",[0,4,{}]],
  ["a{}","a{}",[0,3,{}]],
  ["(?>a+)ab","aaab",null],
  ["(?>a+)b","aaab",[0,4,{}]],
  ["a++b","aab",[0,3,{}]],
  ["a++ab","aaab",null],
  ["(?x) a b # comment\n c","abc",[0,3,{}]],
  ["\\x41\\u0042\\101","ABA",[0,3,{}]],
  ["[\\]a-]+","]-a",[0,3,{}]],
  ["[]a]+","]a",[0,2,{}]],
  ["[a\\-z]+","a-z",[0,3,{}]],
  ["(?s)a.b","a\nb",[0,3,{}]],
  ["a.b","a\rb",[0,3,{}]],
  ["(?m)^b$","a\nb\nc",[2,3,{}]],
  ["^\\s*\\[error\\] (?P<x>.+?)\\s*$","[error] abc  ",[0,14,{"x":"abc"}]],
  ["(?<=\\[)\\d+(?=\\])","[42]",[1,3,{}]],
  ["(?<!x)y","xy zy",[4,5,{}]],
  ["a*?b","aaab",[0,4,{}]],
  ["(?P<u>\\S+|.*?) from","x y from z",[0,8,{"u":"x y"}]],
  ["[\\d\\s]+","12 34",[0,6,{}]],
  ["(?#comment)a","a",[0,1,{}]],
  ["é+","ééé",[0,3,{}]],
  ["^Failed \\S+ for (?P<cond_inv>invalid user )?(?P<user>(?P<cond_user>\\S+)|(?(cond_inv)(?:(?! from ).)*?|[^:]+)) from (?P<ip>[\\d.]+)(?: port \\d+)?(?: ssh\\d*)?(?(cond_user): |(?:(?:(?! from ).)*)$)","Failed password for invalid user test from 10.10.1.2 port 55555 ssh2 from 127.0.0.1 port 58946 ssh2",[0,99,{"cond_inv":null,"user":"invalid user test from 10.10.1.2 port 55555 ssh2","cond_user":null,"ip":"127.0.0.1"}]],
  ["^Failed \\S+ for (?P<cond_inv>invalid user )?(?P<user>(?P<cond_user>\\S+)|(?(cond_inv)(?:(?! from ).)*?|[^:]+)) from (?P<ip>[\\d.]+)(?: port \\d+)?(?: ssh\\d*)?(?(cond_user): |(?:(?:(?! from ).)*)$)","Failed password for user from 127.0.0.1 port 20000 ssh1: ruser from 1.2.3.4",[0,57,{"cond_inv":null,"user":"user","cond_user":"user","ip":"127.0.0.1"}]],
];

/** Patterns Python's re rejects (re.error). */
const REJECTED = [
  '\\e',
  'a(?i)b',
  'a**',
  '*a',
  '(?P<1a>x)',
  '(?P=nope)',
  '[a',
  '(a',
  'a)',
  '[z-a]',
  'x{3,2}',
  '(?P<n>a)(?P<n>b)',
  '\\8',
];

function run(pattern: string, subject: string, indexed: boolean): Expected {
  const t = translatePythonRegex(pattern, { subject: 'buffer', indexedGroups: indexed });
  const m = t.regex.exec(t.appendNewline ? `${subject}\n` : subject);
  if (!m) return null;
  const groups: Record<string, string | null> = {};
  for (const name of t.groupNames) {
    groups[name] = indexed
      ? ((t.groupIndex.get(name) ?? []).map((i) => m[i]).find((v) => v !== undefined) ?? null)
      : (m.groups?.[name] ?? null);
  }
  return [m.index, m.index + m[0].length, groups];
}

describe('Python regex translation', () => {
  it('matches what Python matches, with the same span and groups', () => {
    const differences: string[] = [];
    for (const [pattern, subject, expected] of PYTHON) {
      for (const indexed of [false, true]) {
        // spans count UTF-16 units in JavaScript and code points in Python; the cases are all BMP
        const got = run(pattern, subject, indexed);
        if (JSON.stringify(got) !== JSON.stringify(expected)) {
          differences.push(
            `${pattern} on ${JSON.stringify(subject)}${indexed ? ' (indexed)' : ''}: ${JSON.stringify(got)}, Python ${JSON.stringify(expected)}`,
          );
        }
      }
    }
    assert.deepEqual(differences, []);
  });

  it('rejects what Python rejects', () => {
    for (const pattern of REJECTED) {
      assert.throws(() => translatePythonRegex(pattern, { subject: 'buffer' }), PythonRegexError, pattern);
    }
  });

  it('appends the newline fail2ban adds only when a match could end on it', () => {
    assert.equal(translatePythonRegex('^foo \\S+ bar$', { subject: 'buffer' }).appendNewline, false);
    assert.equal(translatePythonRegex('^foo\\s*$', { subject: 'buffer' }).appendNewline, true);
    assert.equal(translatePythonRegex('^foo[^x]', { subject: 'buffer' }).appendNewline, true);
    assert.equal(translatePythonRegex('^foo(?=\\W)', { subject: 'buffer' }).appendNewline, true);
    assert.equal(translatePythonRegex('^a$', { subject: 'multiline' }).appendNewline, true);
  });

  it('finds a literal every match contains, starting at a letter when it can', () => {
    const literal = (p: string, flags?: string) =>
      translatePythonRegex(p, { subject: 'buffer', ...(flags ? { flags } : {}) }).literal;
    assert.equal(literal('^\\S+ \\[\\] "(?:GET|POST) \\S+" 404 .+$'), '" 404 ');
    assert.equal(literal('^error: (?:a|b) client: (?P<x>\\S+)'), 'client: ');
    assert.equal(literal('^ \\(2: No such file\\), client: \\S+'), 'No such file), client: ');
    assert.equal(literal('^(?:abc|def)\\d+'), undefined);
    assert.equal(literal('(?i)failed password'), undefined);
    assert.equal(literal('ab?c'), undefined);
  });

  it('names groups by number when asked, for regexes that run on every line', () => {
    const t = translatePythonRegex('(?P<d>\\d+)-(\\w+)', {
      subject: 'line',
      indexedGroups: true,
      nameGroups: { 2: 'word' },
    });
    const m = t.regex.exec('12-ab')!;
    assert.equal(m.groups, undefined);
    assert.equal(m[t.groupIndex.get('d')![0]!], '12');
    assert.equal(m[t.groupIndex.get('word')![0]!], 'ab');
  });

  it('locates a group by the text before it, or by match indices', () => {
    const top = translatePythonRegex('^[^\\[]*\\[(\\d+)\\]', {
      subject: 'line',
      nameGroups: { 1: '$date' },
      spanOf: 1,
    });
    assert.equal(top.span, 'prefix');
    assert.equal(top.regex.exec('ab [42]')!.groups!['$pre'], 'ab [');
    const nested = translatePythonRegex('^(?:x|y(\\d+))', {
      subject: 'line',
      nameGroups: { 1: '$date' },
      spanOf: 1,
    });
    assert.equal(nested.span, 'indices');
    assert.deepEqual(nested.regex.exec('y42')!.indices!.groups!['$date'], [1, 3]);
  });
});
