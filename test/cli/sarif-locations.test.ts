import { formatSarif } from '../../src/cli/report/sarif.js';
import { dryRun } from './helpers.js';

const SECRET = `apiVersion: v1
kind: Secret
metadata: {name: t, namespace: shop, annotations: {kubernetes.io/service-account.name: api}}
type: kubernetes.io/service-account-token
`;

const uris = (file: string) => {
  const log = JSON.parse(formatSarif(dryRun(SECRET, { file }), { toolVersion: '0', failOnWarn: false }));
  return log.runs[0].results.map(
    (r: { locations: { physicalLocation: { artifactLocation: unknown } }[] }) =>
      r.locations[0]?.physicalLocation.artifactLocation,
  );
};

test('a file under the working directory is a relative URI against %SRCROOT%', () => {
  expect(uris('deploy/my app/secret.yaml')).toEqual([{ uri: 'deploy/my%20app/secret.yaml', uriBaseId: '%SRCROOT%' }]);
});

test('a file outside the working directory is an absolute file: URI, with no base', () => {
  expect(uris('/tmp/render/secret.yaml')).toEqual([{ uri: 'file:///tmp/render/secret.yaml' }]);
});
