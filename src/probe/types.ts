/**
 * The probe's contracts. The scanner finds open TCP ports; a ProtocolProbe then talks to one open
 * port and says whether it spoke its protocol and what that exposes.
 *
 * Contract for every ProtocolProbe: it never writes or changes anything on the server (only
 * greetings, PING/INFO-style reads and authentication *requests* it never completes with a secret);
 * every wait is bounded by `timeoutMs`; a port that speaks something else gives `recognised: false`
 * (never an exception); an exception means a bug or an IO failure and is reported in `skipped`.
 */
import type { Finding, Rule } from '../core/finding.ts';

export interface ProbeContext {
  /** An IP address (targets are resolved before probing). */
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  /** Local address to connect from, when given (`--source`). */
  readonly sourceAddress?: string | undefined;
  /** Milliseconds since the epoch (certificate expiry is judged against it). */
  readonly nowMs: number;
}

export interface ProbeResult {
  /** True when the port spoke this protocol. */
  readonly recognised: boolean;
  /** What answered, for the open-port finding: `Redis 7.0.15`, `OpenSSH_9.2p1`. */
  readonly service?: string;
  readonly findings: readonly Finding[];
}

export interface ProtocolProbe {
  /** Lower-case protocol name: `redis`, `postgresql`… */
  readonly name: string;
  /** Every rule this probe can emit. */
  readonly rules: readonly Rule[];
  /** TCP ports where the protocol usually runs; an open one is probed with it. */
  readonly ports: readonly number[];
  run(context: ProbeContext): Promise<ProbeResult>;
}

export const notRecognised: ProbeResult = { recognised: false, findings: [] };
