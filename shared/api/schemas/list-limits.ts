/** Page sizes of every list route. A module of their own: reading them builds no schema. */
export const LIST_LIMIT_DEFAULT = 50;
export const LIST_LIMIT_MAX = 100;
