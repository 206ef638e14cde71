import { ApiError } from '../http/api-error';
import { ModelCatalog } from './generation-params';

describe("the models a tenant's requests may name", () => {
  const catalog = new ModelCatalog('gpt-deploy', ['gpt-deploy-mini']);

  it("are the deployment's for a tenant that chose none, its default recorded as none", () => {
    const models = catalog.forTenant({});
    expect(models.ids).toEqual(['parley', 'gpt-deploy', 'gpt-deploy-mini']);
    expect(models.resolve(undefined)).toBeUndefined();
    expect(models.resolve('parley')).toBeUndefined();
    expect(models.resolve('gpt-deploy-mini')).toBe('gpt-deploy-mini');
  });

  it("are the tenant's own list, whose first is the default when it named none, recorded on the turn", () => {
    const models = catalog.forTenant({ models: ['m-fast', 'm-smart'] });
    expect(models.ids).toEqual(['parley', 'm-fast', 'm-smart']);
    expect(models.resolve(undefined)).toBe('m-fast');
    expect(models.resolve('m-smart')).toBe('m-smart');
    expect(() => models.resolve('gpt-deploy')).toThrow(ApiError);
  });

  it("follow the tenant's default, and refuse another model as OpenAI does", () => {
    const models = catalog.forTenant({ models: ['m-fast', 'm-smart'], defaultModel: 'm-smart' });
    expect(models.resolve('parley')).toBe('m-smart');
    try {
      models.resolve('not-a-model');
      throw new Error('resolved');
    } catch (error) {
      expect(error).toMatchObject({ code: 'MODEL.NOT_FOUND', details: { param: 'model' } });
    }
  });
});
