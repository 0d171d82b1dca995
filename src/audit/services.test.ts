import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { imageBaseName, serviceForImage, serviceForPort, serviceForProcess } from './services.ts';

describe('known services', () => {
  it('names a service by image, whatever the registry, tag or digest', () => {
    assert.equal(imageBaseName('docker.elastic.co/elasticsearch/elasticsearch:8.11.1'), 'elasticsearch');
    assert.equal(serviceForImage('redis:7-alpine')?.name, 'redis');
    assert.equal(serviceForImage('bitnami/redis@sha256:abcd')?.name, 'redis');
    assert.equal(serviceForImage('postgis/postgis:16-3.4')?.name, 'postgresql');
    assert.equal(serviceForImage('mongo')?.name, 'mongodb');
    assert.equal(serviceForImage('ghcr.io/mastodon/mastodon:v4.2.10'), undefined);
  });

  it('names a service by process first, then by port', () => {
    assert.equal(serviceForProcess('redis-server', 7000)?.name, 'redis');
    assert.equal(serviceForProcess('java', 9200)?.name, 'elasticsearch');
    assert.equal(serviceForProcess(undefined, 22)?.name, 'ssh');
    assert.equal(serviceForProcess('node', 3000), undefined);
  });

  it('marks datastores and admin APIs as sensitive, web and SSH not', () => {
    for (const port of [6379, 9200, 27017, 5432, 3306, 11211, 2375, 2379])
      assert.equal(serviceForPort(port)?.sensitive, true, String(port));
    for (const port of [22, 80, 443]) assert.equal(serviceForPort(port)?.sensitive, false, String(port));
  });
});
