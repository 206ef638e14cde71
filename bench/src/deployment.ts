import { SETTINGS } from '@parley/contracts';

/**
 * The settings the test cluster shortens so tests see changes at once, back at their deployment
 * defaults: the bench measures what a deployment runs.
 */
export const DEPLOYMENT_SETTINGS = {
  PARLEY_TENANT_CACHE_MS: SETTINGS.PARLEY_TENANT_CACHE_MS.default,
  PARLEY_PROJECTION_QUIET_MS: SETTINGS.PARLEY_PROJECTION_QUIET_MS.default,
};
