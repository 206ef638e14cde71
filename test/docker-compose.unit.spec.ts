/**
 * No Docker engine runs here, so the compose file is checked against the code instead: every
 * command exists, every variable is one the service reads, ports and health checks agree.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { settingsFor, SETTINGS, type ServiceName } from '@parley/contracts';

const root = join(__dirname, '..');
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, any>;
  volumes: Record<string, unknown>;
};
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const cluster = parse(readFileSync(join(root, 'docker-compose.cluster.yml'), 'utf8'), { merge: true }) as { services: Record<string, any> };
const PARLEY = ['ingress', 'router', 'session-projector', 'responder', 'relay'] as const;

/** `node dist/apps/<app>/src/main.js ...` → app */
function appOf(command: string[]): string {
  const script = command[1] ?? '';
  const match = /^dist\/apps\/([^/]+)\/src\/main\.js$/.exec(script);
  if (command[0] !== 'node' || !match) throw new Error(`Unexpected command ${JSON.stringify(command)}`);
  return match[1];
}

describe('docker-compose.yml', () => {
  it('runs postgres, nats with JetStream on a volume, a one-shot migration, a demo LLM and the five services', () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      'demo-llm',
      'ingress',
      'migrate',
      'nats',
      'postgres',
      'relay',
      'responder',
      'router',
      'session-projector',
    ]);
    expect(compose.services.nats.command).toEqual(expect.arrayContaining(['-js', '-sd']));
    expect(compose.services.nats.volumes[0]).toMatch(/^nats-data:/);
    expect(compose.volumes).toHaveProperty('nats-data');
    // the schema, then the Demo Bank from files the image holds
    const [shell, flag, script] = compose.services.migrate.command as string[];
    expect([shell, flag]).toEqual(['sh', '-c']);
    expect(script).toContain(
      'node dist/apps/cli/src/main.js migrate --create-db && node dist/apps/cli/src/main.js kb import data/demo-bank/questions.csv',
    );
    expect(script).toContain('--if-empty');
    expect(dockerfile).toContain('COPY data/demo-bank ./data/demo-bank');
  });

  it('answers with the demo LLM when no key is given, and with the real one when it is', () => {
    expect(compose.services['demo-llm'].command).toEqual(['node', 'tools/demo-llm.mjs']);
    expect(existsSync(join(root, 'tools/demo-llm.mjs'))).toBe(true);
    expect(dockerfile).toContain('COPY tools/demo-llm.mjs ./tools/');
    const env = compose.services.responder.environment;
    expect(env.PARLEY_DEMO_LLM_URL).toBe(`http://demo-llm:${compose.services['demo-llm'].environment.PORT}/v1`);
    // passed through from the shell running compose: unset stays unset (so the demo LLM is used)
    for (const name of ['OPENAI_API_KEY', 'OPENAI_BASE_URL', 'PARLEY_MODEL']) expect(env[name]).toBeNull();
  });

  it('uses only what Docker Compose v2 and podman-compose 1.0 both read: no ${NAME:-}, CMD-SHELL health checks, no deploy', () => {
    const text = readFileSync(join(root, 'docker-compose.yml'), 'utf8');
    expect(text).not.toMatch(/\$\{[A-Z_]+:-\}/);
    for (const [name, service] of Object.entries(compose.services)) {
      if (service.healthcheck) expect([name, service.healthcheck.test[0]]).toEqual([name, 'CMD-SHELL']);
      expect([name, service.deploy]).toEqual([name, undefined]);
    }
    // Postgres is asked over TCP: its first-start init server listens on the socket only
    expect(compose.services.postgres.healthcheck.test[1]).toContain('-h 127.0.0.1');
    // every Parley process waits for Postgres and NATS rather than failing at once
    for (const service of [...PARLEY, 'migrate'])
      expect(Number(compose.services[service].environment.PARLEY_CONNECT_WAIT_SECONDS)).toBeGreaterThan(0);
  });

  it.each(PARLEY)('%s runs its own built entrypoint, which exists as source', (service) => {
    const app = appOf(compose.services[service].command);
    expect(app).toBe(service);
    expect(existsSync(join(root, 'apps', app, 'src', 'main.ts'))).toBe(true);
  });

  it('the migration commands are ones the CLI has, with options its help names', () => {
    const script = (compose.services.migrate.command as string[])[2];
    const calls = script.split('&&').map((call) => call.trim().split(/\s+/));
    expect(calls.length).toBeGreaterThan(1);
    for (const [node, cli, command, ...args] of calls) {
      expect([node, cli]).toEqual(['node', 'dist/apps/cli/src/main.js']);
      // the built CLI's own help for the command (npm test builds dist first)
      const help = execFileSync(process.execPath, [join(root, cli), command, '--help'], { cwd: root, encoding: 'utf8' });
      expect(help).toContain(`parley ${command}`);
      for (const flag of args.filter((a) => a.startsWith('--'))) expect(help).toContain(flag);
    }
  });

  it.each([...PARLEY, 'migrate'])('%s sets only variables the code reads, and the ones it needs', (service) => {
    const env = compose.services[service].environment as Record<string, string>;
    const readable = new Set(settingsFor((service === 'migrate' ? 'cli' : service) as ServiceName));
    const unknown = Object.keys(env).filter((name) => !readable.has(name as keyof typeof SETTINGS));
    expect(unknown).toEqual([]);
    expect(env.DATABASE_URL).toMatch(/@postgres:5432\//);
    expect(env.NATS_URL).toBe('nats://nats:4222');
  });

  it('every service waits for the migration and has a health check that runs real code', () => {
    for (const service of PARLEY) {
      expect(compose.services[service].depends_on.migrate.condition).toBe('service_completed_successfully');
      const test = compose.services[service].healthcheck.test.join(' ').replace(/\\"/g, '"');
      // ingress's readiness, or the worker's own on its metrics port (its database, its consumer's progress)
      const port =
        service === 'ingress' ? compose.services.ingress.environment.PORT : compose.services[service].environment.PARLEY_METRICS_PORT;
      expect(test).toContain(`fetch('http://127.0.0.1:${port}/readyz')`);
      if (service !== 'ingress') expect(compose.services[service].expose).toEqual([port]);
    }
  });

  it('workers listen on all interfaces for their metrics, and every service can export traces', () => {
    for (const service of PARLEY) {
      expect(compose.services[service].environment.HOST).toBe('0.0.0.0');
      expect(compose.services[service].environment).toHaveProperty('OTEL_EXPORTER_OTLP_ENDPOINT');
    }
    expect(compose.services.nats.ports).toEqual(['127.0.0.1:${PARLEY_NATS_MONITOR_PORT:-8222}:8222']);
  });

  it('publishes ingress on the port it listens on', () => {
    const { PORT } = compose.services.ingress.environment;
    expect(compose.services.ingress.ports).toEqual([`\${PARLEY_HTTP_PORT:-${PORT}}:${PORT}`]);
    expect(compose.services.ingress.healthcheck.test.join(' ')).toContain(`127.0.0.1:${PORT}/readyz`);
    expect(compose.services.ingress.environment.HOST).toBe('0.0.0.0');
  });

  it('the Dockerfile builds with the same script as npm and ships dist with production dependencies', () => {
    const scripts = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts;
    expect(scripts.build).toBeDefined();
    expect(dockerfile).toContain('RUN npm run build');
    expect(dockerfile).toContain('npm prune --omit=dev');
    expect(dockerfile).toContain('COPY --from=build /app/dist ./dist');
    for (const source of ['apps', 'libs', 'tools', 'tsconfig.build.json']) expect(dockerfile).toContain(source);
  });

  describe('docker-compose.cluster.yml', () => {
    it('adds two NATS servers routed to the first, forming one JetStream cluster', () => {
      for (const name of ['nats', 'nats-2', 'nats-3']) {
        const args = cluster.services[name].command as string[];
        expect(args).toEqual(
          expect.arrayContaining(['-js', '--cluster_name', 'parley', '--routes', 'nats://nats:6222,nats://nats-2:6222,nats://nats-3:6222']),
        );
        expect(args[args.indexOf('-n') + 1]).toBe(name === 'nats' ? 'nats-1' : name);
      }
    });

    it.each(PARLEY)(
      'runs two replicas of %s, on every NATS server, with streams at three copies, setting only what the code reads',
      (service) => {
        const replica = cluster.services[`${service}-2`];
        expect(replica.command).toEqual(compose.services[service].command);
        for (const env of [cluster.services[service].environment, replica.environment]) {
          expect(env.NATS_URL).toBe('nats://nats:4222,nats://nats-2:4222,nats://nats-3:4222');
          if (service !== 'ingress') expect(env.PARLEY_STREAM_REPLICAS).toBe('3');
          const readable = new Set(settingsFor(service as ServiceName));
          expect(Object.keys(env).filter((name) => !readable.has(name as keyof typeof SETTINGS))).toEqual([]);
        }
      },
    );
  });
});
