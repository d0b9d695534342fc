/** The part of jstat (no published types) that the sweep statistics use. */
declare module 'jstat' {
  const jstat: { jStat: { studentt: { inv(p: number, dof: number): number } } };
  export default jstat;
}
