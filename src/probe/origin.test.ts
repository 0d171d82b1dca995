import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CertificateInfo } from './net.ts';
import { certificateNames } from './origin.ts';

const certificate = (subject: string, altNames: string[]): CertificateInfo => ({
  subject,
  issuer: "CN=R11, O=Let's Encrypt, C=US",
  altNames,
  validFromMs: 0,
  validToMs: 0,
  selfSigned: false,
  fingerprint256: '',
});

describe('certificateNames', () => {
  test('matches a SAN exactly, case-insensitively, ignoring a trailing dot', () => {
    assert.equal(
      certificateNames(certificate('CN=shop.example', ['DNS:shop.example']), 'Shop.Example.'),
      true,
    );
  });

  test('a wildcard covers exactly one label', () => {
    const wildcard = certificate('CN=*.shop.example', ['DNS:*.shop.example']);
    assert.equal(certificateNames(wildcard, 'www.shop.example'), true);
    assert.equal(certificateNames(wildcard, 'shop.example'), false);
    assert.equal(certificateNames(wildcard, 'a.b.shop.example'), false);
  });

  test('with SANs present, the CN is not consulted (as browsers do)', () => {
    assert.equal(
      certificateNames(certificate('CN=shop.example', ['DNS:other.example']), 'shop.example'),
      false,
    );
  });

  test('without SANs, the CN is used', () => {
    assert.equal(certificateNames(certificate('O=Acme, CN=shop.example', []), 'shop.example'), true);
  });

  test('a default "localhost" or IP certificate does not name the site', () => {
    assert.equal(
      certificateNames(
        certificate('CN=localhost', ['DNS:localhost', 'IP Address:127.0.0.1']),
        'shop.example',
      ),
      false,
    );
  });
});
