import { diffJson } from './diff.command';

describe('diffJson', () => {
  it('lists added, removed and changed paths, through objects and arrays', () => {
    const before = { status: 'open', messages: [{ text: 'hi' }], turns: [{ id: 't1', status: 'routed' }], gone: 1 };
    const after = { status: 'open', messages: [{ text: 'hi' }, { text: 'hello' }], turns: [{ id: 't1', status: 'replied' }], added: true };
    expect(diffJson(before, after)).toEqual([
      { path: 'messages[1]', kind: 'added', after: { text: 'hello' } },
      { path: 'turns[0].status', kind: 'changed', before: 'routed', after: 'replied' },
      { path: 'gone', kind: 'removed', before: 1 },
      { path: 'added', kind: 'added', after: true },
    ]);
  });
  it('finds nothing between equal states, and the whole state when its kind changes', () => {
    expect(diffJson({ a: [1] }, { a: [1] })).toEqual([]);
    expect(diffJson({ status: 'none' }, 'x')).toEqual([{ path: '(state)', kind: 'changed', before: { status: 'none' }, after: 'x' }]);
  });
});
