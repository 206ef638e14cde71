export declare function needsBuild(root: string): boolean;
export declare function newestSource(root: string, paths?: string[]): number;
export declare const STAMP: string;
